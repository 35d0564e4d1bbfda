"""One exception tree: everything the SDK raises on purpose derives from :class:`OdrecError`."""

from __future__ import annotations


class OdrecError(Exception):
    """Base class of every error raised deliberately by ondevice-rec."""


# --- arguments -------------------------------------------------------------------------------
class ArgumentError(OdrecError, ValueError):
    """An argument is out of range or malformed (a ValueError; the message names the argument)."""


class ArgumentTypeError(OdrecError, TypeError):
    """An argument has the wrong type (a TypeError; the message names the argument)."""


# --- bundles ---------------------------------------------------------------------------------
class BundleError(OdrecError):
    """A model bundle is missing, malformed or unusable."""


class BundleIntegrityError(BundleError):
    """A bundle file does not match the size or sha256 recorded in its manifest."""


class BundleVersionError(BundleError):
    """A bundle was written by a newer (or unknown) bundle schema version."""


# --- store -----------------------------------------------------------------------------------
class StoreError(OdrecError):
    """The SQLite store cannot be opened, read or written."""


class WrongKeyError(StoreError):
    """The store is encrypted and the key given (or none) does not open it, or a key was given for a plain one."""


class StoreBusyError(StoreError):
    """The store stayed locked by another connection past the caller's deadline."""


class StoreFullError(StoreError):
    """The disk (or the store's size limit) is full: the write was rolled back, the store is unchanged."""


class ItemNotFoundError(OdrecError, KeyError):
    """An item id is not in the catalog."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else "item not found"


class ImportFormatError(OdrecError):
    """A catalog import file is malformed; nothing was imported."""


class DatasetError(OdrecError):
    """A dataset is missing, malformed or unusable (evaluation and export)."""


# --- privacy ---------------------------------------------------------------------------------
class PrivacyError(OdrecError):
    """A privacy rule refused an operation."""


class ConsentError(PrivacyError):
    """An operation needs a consent the user has not granted."""


class EgressBlocked(PrivacyError):
    """Data was about to leave the device and the egress gate refused it (fails closed)."""


class EgressTransportError(PrivacyError):
    """The app's transport raised after the payload passed the gate (recorded in the audit log)."""


class RedactionError(PrivacyError):
    """Text could not be checked for PII (analyzer missing or failing, timeout, unsupported language)."""


# --- export / extras -------------------------------------------------------------------------
class ExportError(OdrecError):
    """Building, converting or validating a model bundle failed."""


class BenchError(OdrecError):
    """A benchmark cannot run as asked (unknown scenario, missing backend, catalogue too large)."""


class MissingExtraError(OdrecError, ImportError):
    """An optional dependency is not installed; the message names the pip command to run."""


def missing_extra(extra: str, module: str, hint: str = "") -> MissingExtraError:
    """Build the error raised when an optional extra is absent."""
    msg = f"this feature needs the '{extra}' extra ({module} is not installed): pip install 'ondevice-rec[{extra}]'"
    if hint:
        msg += f"; {hint}"
    return MissingExtraError(msg)
