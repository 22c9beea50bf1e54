"""The perturbation lab: a built-in plugin (panel "perturbation") on top of ``engine.perturb``."""
