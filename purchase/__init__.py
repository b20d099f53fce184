"""Purchase prediction: will this user buy this item?

The package's top level is the contract that training and serving share: the feature definitions
(`features`), the request and response models (`schemas`), the domain errors (`errors`), the settings
(`settings`) and the model store (`store`). `training/` turns an event log into a stored version,
`serving/` answers requests with it, and `cli/` holds the commands people run.
"""

import os

# BentoML reads this at its first usage event, not at import: set here, it covers every entry point.
# The model store is BentoML's own default (~/bentoml, or BENTOML_HOME), so `make`, `python -m
# purchase...` and BentoML's commands (`bentoml models list`, `bentoml serve`) all see one store.
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

__version__ = "1.0.0"
