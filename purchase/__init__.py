"""Purchase prediction: will this user buy this item?

The package's top level is the contract that training and serving share: the feature definitions
(`features`), the request and response models (`schemas`), the domain errors (`errors`), the settings
(`settings`) and the model store (`store`). `training/` turns an event log into a stored version,
`serving/` answers requests with it, and `cli/` holds the commands people run.
"""

import os
from pathlib import Path

# BentoML reads this at its first usage event, not at import: set here, it covers every entry point.
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

# Run from a checkout (the Makefile beside the package), every entry point uses the project's model
# store, as `make` does, rather than ~/bentoml: BentoML resolves its home at first use, after this
# import. A Bento or an image sets BENTOML_HOME itself.
_CHECKOUT = Path(__file__).resolve().parent.parent
if (_CHECKOUT / "Makefile").is_file() and (_CHECKOUT / "bentofile.yaml").is_file():
    os.environ.setdefault("BENTOML_HOME", str(_CHECKOUT / ".bentoml"))

__version__ = "1.0.0"
