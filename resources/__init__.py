"""RadLens's bundled resources as package data: model bundles (``models/``), the demo study
(``demo/``), study presets (``studies/``) and icons (``icons/``).

Find them with :mod:`engine.resources`, never by a path relative to the source tree. Every folder
under ``models/`` that holds a ``model.json`` is a bundle; new ones need no edit anywhere.
"""

#: Marks this package as RadLens's (a different top-level ``resources`` package is not ours).
RADLENS_RESOURCES = True
