"""The built-in explanation overlay: model/method chooser, probabilities, maps, boxes and IoU.

Only :mod:`.manifest` is imported at start-up; the panel's modules load on first use.
"""
