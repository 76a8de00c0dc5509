"""Domain errors: every broken rule raises one, with a stable `code`; nothing is stored."""

from __future__ import annotations

from verifiers.errors import CodedError


class DomainError(CodedError):
    """Root of the domain's errors. `code` is stable: clients and tests match on it."""

    code = "domain_error"


def _error(name: str, code: str, doc: str) -> type[DomainError]:
    return type(name, (DomainError,), {"code": code, "__doc__": doc})


InvalidInputError = _error("InvalidInputError", "invalid_input", "A field is missing or malformed.")
NotCustodianError = _error(
    "NotCustodianError", "not_custodian", "The actor's agency does not hold custody."
)
NotIssuerError = _error(
    "NotIssuerError", "not_issuer", "An agency registers only the documents it issued."
)
RecordDestroyedError = _error(
    "RecordDestroyedError", "record_destroyed", "Nothing can follow destruction."
)
DigestMismatchError = _error(
    "DigestMismatchError", "digest_mismatch", "A digest differs from the record's."
)
DossierClosedError = _error(
    "DossierClosedError", "dossier_closed", "A closed dossier's membership is frozen."
)
AlreadyFiledError = _error(
    "AlreadyFiledError", "already_filed", "The record is already filed in a dossier."
)
TransferPendingError = _error(
    "TransferPendingError", "transfer_pending", "A transfer is already under way."
)
NoTransferPendingError = _error(
    "NoTransferPendingError", "no_transfer_pending", "There is no transfer to act on."
)
NotDestinationError = _error(
    "NotDestinationError", "not_destination", "Only the transfer's destination may answer it."
)
ReceiptMismatchError = _error(
    "ReceiptMismatchError",
    "receipt_mismatch",
    "The receiver's digests or counts differ from the package sent.",
)
ClassifiedRecordError = _error(
    "ClassifiedRecordError",
    "classified_record",
    "A classified record goes to a historical archive only after declassification.",
)
RetentionPermanentError = _error(
    "RetentionPermanentError", "retention_permanent", "Permanent retention is final."
)
RecordPermanentError = _error(
    "RecordPermanentError", "record_permanent", "A permanent record is never destroyed."
)
AppraisalRequiredError = _error(
    "AppraisalRequiredError",
    "appraisal_required",
    "Destruction needs an appraisal that decided the record's value has ended.",
)
RetentionNotExpiredError = _error(
    "RetentionNotExpiredError", "retention_not_expired", "The retention period has not ended."
)
RecordOnHoldError = _error(
    "RecordOnHoldError", "record_on_hold", "An active hold forbids destruction."
)
HoldNotFoundError = _error("HoldNotFoundError", "hold_not_found", "No active hold has that id.")
NotHoldAuthorityError = _error(
    "NotHoldAuthorityError", "not_hold_authority",
    "Only the agency that placed a hold may release it.",
)
HoldExistsError = _error("HoldExistsError", "hold_exists", "A hold with that id is active.")
DestructionNotApprovedError = _error(
    "DestructionNotApprovedError",
    "destruction_not_approved",
    "Destruction is executed only after a destruction decision.",
)
CommitteeOnlyError = _error(
    "CommitteeOnlyError", "committee_only",
    "Only the Government Cipher Committee's principals decide which roots are trusted.",
)
AnchorStateError = _error(
    "AnchorStateError", "anchor_state", "The trust anchor's status does not allow this."
)
UntrustedSignerError = _error(
    "UntrustedSignerError", "untrusted_signer",
    "The signer's certificate does not chain to a trust anchor in force at signing time.",
)
CatalogManagerOnlyError = _error(
    "CatalogManagerOnlyError", "catalog_manager_only",
    "Only catalog managers (the State Records and Archives Department) publish catalogs.",
)
CatalogUnchangedError = _error(
    "CatalogUnchangedError", "catalog_unchanged", "A new version must change the catalog."
)
CatalogRollbackError = _error(
    "CatalogRollbackError", "catalog_rollback", "A catalog copy never moves to an older version."
)
CatalogCodeUnknownError = _error(
    "CatalogCodeUnknownError", "catalog_code_unknown",
    "A record names a code that the catalog version in force does not hold.",
)
CatalogCodeNotYetValidError = _error(
    "CatalogCodeNotYetValidError", "catalog_code_not_yet_valid",
    "A record names a code that came into force after the document's issue date.",
)
CatalogCodeExpiredError = _error(
    "CatalogCodeExpiredError", "catalog_code_expired",
    "A record names a code no longer in force on the document's issue date (a merged agency: "
    "its successor).",
)
CatalogRetentionMismatchError = _error(
    "CatalogRetentionMismatchError", "catalog_retention_mismatch",
    "A record's retention differs from the period its retention schedule sets.",
)
