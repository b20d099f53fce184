"""Domain errors, each with the HTTP status it maps to; the service turns them into `{"detail": ...}`."""

from __future__ import annotations


class PurchaseError(Exception):
    status_code = 500

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(PurchaseError):
    status_code = 400


class InvalidModel(PurchaseError):
    """The model exists but cannot serve: corrupt, another framework, or another feature contract."""

    status_code = 400


class OutsideModelDir(PurchaseError):
    """A model path that resolves outside MODEL_DIR: refused, whatever is there."""

    status_code = 403


class ModelNotFound(PurchaseError):
    status_code = 404


class FeaturesOff(PurchaseError):
    """/events while ONLINE_FEATURES is false: there is no store to write."""

    status_code = 404

    def __init__(self, detail: str = "Online features are off (ONLINE_FEATURES=false): no store takes events") -> None:
        super().__init__(detail)


class PredictionFailed(PurchaseError):
    status_code = 500


class ModelNotLoaded(PurchaseError):
    status_code = 503

    def __init__(self, detail: str = "Model not loaded. Please load a model first.") -> None:
        super().__init__(detail)


class Overloaded(PurchaseError):
    status_code = 503
    retry_after_s = 1


class StoreUnavailable(Overloaded):
    """The online feature store cannot be reached: nothing was written, try again."""


class FleetUnavailable(Overloaded):
    """The fleet's shared state (Redis) cannot be reached: the change was not made, try again."""


class ChangeRefused(PurchaseError):
    """A worker of the fleet cannot serve the proposed change: nothing switched anywhere."""

    status_code = 409


class OutsideDataDir(PurchaseError):
    """A job's input path that resolves outside DATA_DIR: refused, whatever is there."""

    status_code = 403


class JobNotFound(PurchaseError):
    status_code = 404


class JobNotReady(PurchaseError):
    """A download of a job that has not produced it (yet), or a change to a finished job."""

    status_code = 409


class FileTooLarge(PurchaseError):
    status_code = 413


class StorageFull(PurchaseError):
    """Job storage (JOB_STORAGE_BYTES) has no room for this file: nothing was queued."""

    status_code = 507
