"""The ledger's own errors; domain and verification errors pass through unchanged."""

from __future__ import annotations

from domain.errors import DomainError


class LedgerError(DomainError):
    """Root of the ledger's errors (a DomainError, so callers map one family of codes)."""

    code = "ledger_error"


class ConfigError(LedgerError):
    code = "bad_config"


class DevelopmentTrustError(ConfigError):
    """Development trust (the built-in TSA, the development PKI) outside development."""

    code = "development_trust"


class NotFoundError(LedgerError):
    code = "not_found"


class RecordNotFoundError(NotFoundError):
    code = "record_not_found"


class DossierNotFoundError(NotFoundError):
    code = "dossier_not_found"


class ContentNotFoundError(NotFoundError):
    code = "content_not_found"


class EventTooLargeError(LedgerError):
    """An event whose canonical bytes an entry bundle cannot frame (over 65,535 bytes)."""

    code = "event_too_large"


class DuplicateError(LedgerError):
    code = "duplicate"


class ConflictError(LedgerError):
    """Optimistic concurrency: the aggregate changed since the caller read it."""

    code = "conflict"


class CatalogStaleError(LedgerError):
    """The centre's catalog index this node holds has expired past the grace period: writes
    that a catalog checks wait for a sync."""

    code = "catalog_stale"


class NotCatalogCentreError(LedgerError):
    """A node that takes its catalogs from a centre does not publish its own."""

    code = "not_catalog_centre"


class CatalogNotFoundError(NotFoundError):
    code = "catalog_not_found"


class LogRangeError(LedgerError):
    """An index or size outside the log as it stands."""

    code = "out_of_range"


class CorruptStoreError(LedgerError):
    """The store holds something that breaks an invariant; run `stele audit`."""

    code = "corrupt_store"


class IdempotencyKeyReusedError(LedgerError):
    """An Idempotency-Key sent again with another request."""

    code = "idempotency_key_reused"


class IdempotencyInProgressError(LedgerError):
    """The first request with this Idempotency-Key is still running."""

    code = "idempotency_in_progress"


class NoCheckpointError(NotFoundError):
    code = "no_checkpoint"


class NotAnchoredError(LedgerError):
    """The checkpoint has no timestamp (from that TSA) yet."""

    code = "not_anchored"


class ExportRaceError(LedgerError):
    """The log moved while a bundle was read; retry the export."""

    code = "export_race"


class ForbiddenError(LedgerError):
    """The principal's role or agency may not do this."""

    code = "forbidden"


class LeaseLostError(LedgerError):
    """Another process holds the lease of this side effect (or took it over): stop."""

    code = "lease_lost"


class NothingToRenewError(LedgerError):
    code = "nothing_to_renew"


class PeerNotPinnedError(LedgerError):
    """A transfer names a peer log that this node's trust list (STELE_PEER_LOGS) lacks."""

    code = "peer_not_pinned"


class DossierOpenError(LedgerError):
    """Only closed dossiers are transferred: their membership is sealed."""

    code = "dossier_open"


class TransferNotFoundError(NotFoundError):
    code = "transfer_not_found"


class ReceiptMismatchError(LedgerError):
    """A receipt that answers another transfer, or that another log signed."""

    code = "receipt_transfer_mismatch"


class TransferRejectedError(LedgerError):
    """The receiving node refused a package: `code` says why, `receipt` is its signed
    rejection (None when the package named no transfer it could answer)."""

    code = "transfer_rejected"

    def __init__(self, code: str, message: str, receipt: str | None, **evidence: object) -> None:
        super().__init__(message, **evidence)
        self.code = code  # the reason's own stable code (docs/transfers.md)
        self.receipt = receipt
