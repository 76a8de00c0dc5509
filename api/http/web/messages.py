"""The pages' words, in Vietnamese (first) and English. A key missing in either is a bug the
tests catch; a stable code without its own words is shown with the verifier's message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LANGUAGES = ("vi", "en")

MESSAGES: dict[str, tuple[str, str]] = {
    # the frame
    "site": ("Stele: sổ cái hồ sơ điện tử", "Stele: electronic records ledger"),
    "skip": ("Bỏ qua đến nội dung", "Skip to content"),
    "nav.inspect": ("Kiểm tra tài liệu", "Check a document"),
    "nav.records": ("Hồ sơ, tài liệu", "Records"),
    "nav.transfers": ("Giao nộp", "Transfers"),
    "nav.committee": ("Tin cậy (Ban Cơ yếu)", "Trust (Cipher Committee)"),
    "nav.audit": ("Kiểm toán", "Audit"),
    "nav.catalogs": ("Danh mục dùng chung", "Shared catalogs"),
    "nav.offline": ("Trình kiểm tra ngoại tuyến", "Offline verifier"),
    "nav.login": ("Đăng nhập", "Log in"),
    "nav.logout": ("Đăng xuất", "Log out"),
    "nav.main": ("Điều hướng chính", "Main navigation"),
    "nav.language": ("Ngôn ngữ", "Language"),
    "signed_in_as": ("Đăng nhập với tư cách", "Logged in as"),
    "footer": ("Mọi kết luận ở đây đều kiểm chứng lại được bằng `stele verify` với khóa nhật ký "
               "đã công bố.", "Every verdict here can be re-proved with `stele verify` and "
               "the log's published key."),
    # verdicts
    "PASSED": ("HỢP LỆ", "PASSED"),
    "FAILED": ("KHÔNG HỢP LỆ", "FAILED"),
    "INDETERMINATE": ("CHƯA XÁC ĐỊNH", "INDETERMINATE"),
    "verdict.PASSED": ("Tài liệu này đúng là tài liệu đã đăng ký, không bị thay đổi, và các "
                       "chữ ký hợp lệ tại thời điểm được chứng minh tồn tại.",
                       "This is the document that was registered, unchanged, and its "
                       "signatures were valid when it was proven to exist."),
    "verdict.FAILED": ("Có bằng chứng bị thay đổi hoặc không còn chứng minh được.",
                       "Some evidence was altered or no longer proves what it should."),
    "verdict.INDETERMINATE": ("Chưa đủ căn cứ để kết luận: không có gì bị làm giả, nhưng còn "
                              "thiếu bằng chứng.", "Not enough to decide: nothing is shown "
                              "to be forged, but some evidence is missing."),
    "code": ("Mã", "Code"),
    # inspector
    "inspect.title": ("Kiểm tra một tài liệu", "Check a document"),
    "inspect.lead": ("Chọn hoặc thả một tệp PDF: tệp được băm ngay trong trình duyệt và không "
                     "rời khỏi máy của bạn. Chỉ mã băm SHA-256 được gửi đi để tra cứu.",
                     "Pick or drop a PDF: it is hashed in your browser and never leaves "
                     "your machine. Only its SHA-256 digest is sent to look it up."),
    "inspect.drop": ("Thả tệp PDF hoặc gói chứng cứ (ZIP) vào đây, hoặc chọn tệp",
                     "Drop a PDF or an evidence bundle (ZIP) here, or pick a file"),
    "inspect.file": ("Tệp", "File"),
    "inspect.digest": ("Mã băm SHA-256 (64 ký tự hexa)", "SHA-256 digest (64 hex characters)"),
    "inspect.submit": ("Tra cứu", "Look up"),
    "inspect.hashing": ("Đang băm tệp…", "Hashing the file…"),
    "inspect.bundle_note": ("Một gói chứng cứ được kiểm tra ngay trong trình duyệt, với khóa "
                            "nhật ký dưới đây.", "An evidence bundle is verified in your "
                            "browser, against the log key below."),
    "inspect.log_key": ("Khóa nhật ký được ghim", "Pinned log key"),
    "inspect.not_registered": ("Không hồ sơ nào đăng ký tài liệu này: đây không phải tài liệu "
                               "đã được ban hành, hoặc nó đã bị thay đổi dù chỉ một byte.",
                               "No record registers this document: it is not one that was "
                               "issued, or it was changed, if only by one byte."),
    "inspect.result": ("Kết quả", "Result"),
    "inspect.restricted": ("Hồ sơ hạn chế tiếp cận: chỉ hiển thị kết luận. Đăng nhập để xem "
                           "chi tiết.", "A restricted record: only the verdict is shown. Log "
                           "in to see more."),
    "inspect.record": ("Hồ sơ", "Record"),
    "inspect.status": ("Trạng thái", "Status"),
    "inspect.custodian": ("Đơn vị lưu giữ", "Custodian"),
    "inspect.issued": ("Ngày ban hành", "Issued"),
    "inspect.timeline": ("Quá trình", "Life of the record"),
    "inspect.signatures": ("Chữ ký số", "Signatures"),
    "inspect.signer": ("Người ký", "Signer"),
    "inspect.signed_at": ("Thời điểm ký", "Signed at"),
    "inspect.anchor": ("Gốc tin cậy", "Trust anchor"),
    "inspect.poe": ("Chứng minh tồn tại", "Proof of existence"),
    "inspect.proofs": ("Bằng chứng", "Proofs"),
    "inspect.checkpoint": ("Điểm kiểm (cây Merkle)", "Checkpoint (Merkle tree)"),
    "inspect.timestamps": ("Dấu thời gian", "Timestamps"),
    "inspect.download": ("Tải gói chứng cứ cho tòa án", "Download the evidence bundle for a court"),
    "inspect.checks": ("Các bước kiểm tra", "The checks"),
    "inspect.tombstone": ("Tài liệu đã được hủy hợp pháp", "Lawfully destroyed"),
    "inspect.tombstone_text": ("Tài liệu đã từng tồn tại; nội dung đã được hủy theo quyết định "
                               "dưới đây. Lịch sử và bằng chứng được giữ lại.",
                               "The document existed; its content was destroyed by the "
                               "decision below. Its history and proofs are kept."),
    "inspect.decision": ("Quyết định", "Decision"),
    "inspect.browser_scope": ("Trình duyệt kiểm tra các bằng chứng của nhật ký (cây Merkle, "
                              "chữ ký điểm kiểm). Dấu thời gian và chữ ký số cần `stele verify`.",
                              "The browser checks the log's proofs (Merkle tree, checkpoint "
                              "signatures). Timestamps and document signatures need "
                              "`stele verify`."),
    "inspect.checked_here": ("Những gì trình duyệt đã kiểm tra:", "What the browser checked:"),
    "inspect.server_verify": ("Kiểm tra đầy đủ trên máy chủ này (cả dấu thời gian và chữ ký)",
                              "Verify in full on this server (timestamps and signatures too)"),
    "inspect.more": ("Còn {n} hồ sơ nữa", "{n} more records"),
    # event types
    "record.created": ("Tạo lập", "Created"),
    "record.signed": ("Ký số", "Signed"),
    "record.filed": ("Lập hồ sơ", "Filed"),
    "record.access_changed": ("Đổi mức tiếp cận", "Access changed"),
    "record.appraised": ("Thẩm định", "Appraised"),
    "record.hold_placed": ("Phong tỏa", "Hold placed"),
    "record.hold_released": ("Giải tỏa", "Hold released"),
    "record.destruction_approved": ("Phê duyệt hủy", "Destruction approved"),
    "record.destroyed": ("Hủy", "Destroyed"),
    "record.transfer_initiated": ("Bắt đầu giao nộp", "Transfer initiated"),
    "record.transfer_received": ("Bên nhận đã tiếp nhận", "Received by the destination"),
    "record.transfer_rejected": ("Bên nhận từ chối", "Rejected by the destination"),
    "dossier.opened": ("Mở hồ sơ", "Dossier opened"),
    "dossier.member_added": ("Thêm tài liệu vào hồ sơ", "Record added"),
    "dossier.closed": ("Đóng hồ sơ", "Dossier closed"),
    "record.received": ("Tiếp nhận", "Received"),
    "by": ("bởi", "by"),
    # login
    "login.title": ("Đăng nhập", "Log in"),
    "login.lead": ("Dán mã truy cập (token) mà quản trị viên cấp cho bạn. Mã được đổi lấy một "
                   "phiên làm việc; trình duyệt không lưu mã.", "Paste the token your "
                   "administrator gave you. It is exchanged for a session; the browser does "
                   "not keep the token."),
    "login.token": ("Mã truy cập", "Token"),
    "login.submit": ("Đăng nhập", "Log in"),
    "login.failed": ("Mã truy cập không đúng hoặc đã bị thu hồi.", "Unknown or revoked token."),
    # refusals
    "refused.title": ("Không thể thực hiện", "Not allowed"),
    "refused.forbidden": ("Vai trò của bạn không được mở trang này.",
                          "Your role may not open this page."),
    "refused.csrf_invalid": ("Biểu mẫu không hợp lệ hoặc đã hết hạn (thiếu mã CSRF). Hãy tải "
                             "lại trang rồi thử lại.", "The form is invalid or stale (no CSRF "
                             "token). Reload the page and try again."),
    "refused.not_found": ("Không tìm thấy.", "Not found."),
    "refused.form_expected": ("Cần gửi một biểu mẫu.", "A form was expected."),
    "refused.form_too_large": ("Biểu mẫu quá lớn.", "The form is too large."),
    "refused.form_malformed": ("Biểu mẫu không đọc được.", "The form cannot be read."),
    "refused.invalid_input": ("Dữ liệu không hợp lệ.", "Invalid input."),
    "refused.rejected": ("Thao tác bị từ chối.", "The action was refused."),
    "refused.back": ("Về trang đầu", "Back to the first page"),
    # committee
    "committee.title": ("Rà soát gốc tin cậy", "Trust anchor review"),
    "committee.lead": ("Mọi gốc tin cậy đã từng đăng ký, lịch sử, phạm vi và những gì phụ "
                       "thuộc vào chúng.", "Every trust anchor ever registered, its history, "
                       "its scope and what depends on it."),
    "committee.expiring": ("Hết hạn trong 12 tháng tới", "Expiring in the next 12 months"),
    "committee.none_expiring": ("Không có gốc nào hết hạn trong 12 tháng tới.",
                                "No anchor expires in the next 12 months."),
    "committee.anchor": ("Gốc", "Anchor"),
    "committee.pki": ("Hệ thống PKI", "PKI"),
    "committee.purposes": ("Mục đích", "Purposes"),
    "committee.window": ("Hiệu lực", "Window"),
    "committee.status": ("Trạng thái", "Status"),
    "committee.depends": ("Phụ thuộc", "Depends on it"),
    "committee.history": ("Lịch sử", "History"),
    "committee.signatures": ("chữ ký", "signatures"),
    "committee.timestamps_n": ("dấu thời gian", "timestamps"),
    "committee.records_n": ("hồ sơ", "records"),
    "committee.register": ("Đăng ký gốc tin cậy mới", "Register a new trust anchor"),
    "committee.certificate": ("Chứng thư (PEM, hoặc chọn tệp PEM/DER)",
                              "Certificate (PEM, or pick a PEM/DER file)"),
    "committee.certificate_file": ("Tệp chứng thư", "Certificate file"),
    "committee.not_before": ("Từ (tùy chọn, ISO 8601)", "From (optional, ISO 8601)"),
    "committee.not_after": ("Đến (tùy chọn, ISO 8601)", "Until (optional, ISO 8601)"),
    "committee.signing": ("Ký số", "Signing"),
    "committee.timestamping": ("Cấp dấu thời gian", "Timestamping"),
    "committee.reason": ("Lý do", "Reason"),
    "committee.suspend": ("Tạm dừng", "Suspend"),
    "committee.reinstate": ("Khôi phục", "Reinstate"),
    "committee.retire": ("Chấm dứt", "Retire"),
    "committee.confirm": ("Xác nhận", "Confirm"),
    "committee.cancel": ("Hủy bỏ", "Cancel"),
    "committee.consequences": ("Hệ quả", "Consequences"),
    "committee.consequence.suspend": (
        "Trong khi tạm dừng, gốc này không bảo chứng cho điều gì: {records} hồ sơ ({signatures} "
        "chữ ký, {timestamps} dấu thời gian) sẽ CHƯA XÁC ĐỊNH khi kiểm tra tại đây.",
        "While suspended the anchor vouches for nothing: {records} records ({signatures} "
        "signatures, {timestamps} timestamps) will verify INDETERMINATE here."),
    "committee.consequence.retire": (
        "Gốc này vẫn bảo chứng cho những gì đã ký trước lúc chấm dứt; chữ ký mới trên nó sẽ bị "
        "từ chối. Không đổi kết luận của {records} hồ sơ đã có.",
        "The anchor still vouches for what was signed before now; new signatures on it are "
        "refused. The {records} records that rest on it keep their verdicts."),
    "committee.consequence.reinstate": (
        "Gốc này lại được tin cậy: {records} hồ sơ dựa vào nó trở lại kết luận trước đây.",
        "The anchor is trusted again: the {records} records that rest on it get their "
        "verdicts back."),
    "committee.done": ("Đã ghi vào nhật ký.", "Recorded in the log."),
    "active": ("đang hiệu lực", "active"),
    "suspended": ("tạm dừng", "suspended"),
    "retired": ("đã chấm dứt", "retired"),
    "trust.registered": ("Đăng ký", "Registered"),
    "trust.suspended": ("Tạm dừng", "Suspended"),
    "trust.reinstated": ("Khôi phục", "Reinstated"),
    "trust.retired": ("Chấm dứt", "Retired"),
    # auditor
    "audit.title": ("Bảng kiểm toán", "Audit dashboard"),
    "audit.size": ("Kích thước nhật ký", "Log size"),
    "audit.checkpoint": ("Điểm kiểm mới nhất", "Latest checkpoint"),
    "audit.backlog": ("Sự kiện chưa tích hợp", "Events not yet integrated"),
    "audit.growth": ("Kích thước nhật ký theo thời gian", "Log size over time"),
    "audit.rate": ("Điểm kiểm mỗi giờ", "Checkpoints per hour"),
    "audit.anchoring": ("Neo thời gian theo TSA", "Anchoring per TSA"),
    "audit.tsa": ("TSA", "TSA"),
    "audit.last_token": ("Dấu thời gian gần nhất", "Last token"),
    "audit.tokens": ("Số dấu thời gian", "Tokens"),
    "audit.unanchored": ("Điểm kiểm chưa neo", "Checkpoints not yet anchored"),
    "audit.renewals": ("Bản ghi chứng cứ đến hạn gia hạn", "Evidence records due for renewal"),
    "audit.expires": ("Hết hạn", "Expires"),
    "audit.none_due": ("Không có bản ghi nào đến hạn.", "None due."),
    "audit.witnesses": ("Nhân chứng", "Witnesses"),
    "audit.witness": ("Nhân chứng", "Witness"),
    "audit.cosigned": ("Kích thước đã đồng ký", "Cosigned size"),
    "audit.lag": ("Độ trễ (lá)", "Lag (leaves)"),
    "audit.last_error": ("Lỗi gần nhất", "Last error"),
    "audit.no_witnesses": ("Nhật ký này không có nhân chứng.", "This log has no witnesses."),
    "audit.run": ("Chạy kiểm toán toàn bộ", "Run a full audit"),
    "audit.running": ("Đang kiểm toán…", "Auditing…"),
    "audit.report": ("Báo cáo kiểm toán", "Audit report"),
    "audit.chart_note": ("Biểu đồ; số liệu có trong bảng dưới.", "Chart; the figures are in "
                         "the table below."),
    "audit.time": ("Thời điểm", "Time"),
    # archivist
    "records.title": ("Tra cứu hồ sơ, tài liệu", "Search records"),
    "records.number": ("Số", "Number"),
    "records.notation": ("Ký hiệu", "Notation"),
    "records.subject": ("Trích yếu", "Subject"),
    "records.dossier": ("Hồ sơ (mã)", "Dossier (code)"),
    "records.from": ("Từ ngày", "From"),
    "records.to": ("Đến ngày", "To"),
    "records.custodian": ("Đơn vị lưu giữ", "Custodian"),
    "records.search": ("Tìm", "Search"),
    "records.none": ("Không có hồ sơ nào khớp.", "No record matches."),
    "records.scanned": ("Đã xét {n} hồ sơ gần nhất.", "The latest {n} records were searched."),
    "records.documents": ("Tài liệu", "Documents"),
    "records.download": ("Tải tài liệu", "Download the document"),
    "records.dossiers": ("Hồ sơ chứa tài liệu", "Dossiers"),
    "records.metadata": ("Thông tin", "Metadata"),
    "records.inspect": ("Kiểm tra và bằng chứng", "Verdict and proofs"),
    "records.kind": ("Loại", "Kind"),
    "records.kind.record": ("Tài liệu", "Records"),
    "records.kind.dossier": ("Hồ sơ", "Dossiers"),
    "records.members": ("Tài liệu trong hồ sơ", "Records in the dossier"),
    "records.closed": ("Đã đóng, gốc Merkle", "Closed, Merkle root"),
    "transfers.title": ("Giao nộp", "Transfers"),
    "transfers.id": ("Mã giao nộp", "Transfer"),
    "transfers.destination": ("Nơi nhận", "Destination"),
    "transfers.created": ("Lập lúc", "Created"),
    "transfers.outcome": ("Kết quả", "Outcome"),
    "transfers.pending": ("đang chờ biên nhận", "awaiting the receipt"),
    "transfers.received": ("Gói đã tiếp nhận (biên nhận đã cấp)",
                           "Packages received (receipts issued)"),
    "transfers.none": ("Chưa có giao nộp nào.", "No transfers yet."),
    "transfers.issued": ("Cấp lúc", "Issued"),
    "transfers.package": ("Gói", "Package"),
    "transfers.receipt": ("Biên nhận", "Receipt"),
}


def translator(lang: str) -> Callable[..., str]:
    column = LANGUAGES.index(lang)

    def t(key: str, **values: Any) -> str:
        words = MESSAGES.get(key)
        text = key if words is None else words[column]
        return text.format(**values) if values else text

    return t
