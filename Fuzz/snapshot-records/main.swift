// libFuzzer target: one catalog snapshot record read into columns, on the quick path (straight from the wire format)
// and on the general path (protobuf-c and RecordChecker), which must agree, not just survive.
//
// Input layout (see docs/testing.md, "Fuzzing"): byte 0 picks the kind of the marketplace schema (mod 3: venue,
// item, user), the rest is the bytes of one ranking.catalog.v1.Entity. Ids v1…v20, i1…i20 and u1…u20 exist, so
// references and histories can resolve. Invariants:
//   - the general path alone and the decoder with its quick path report the same problems;
//   - when the quick path took the record (no general-path record counted), the general path found it clean and
//     wrote exactly the same columns.
import Foundation

@testable import CatalogSnapshot

private func check(_ condition: Bool, _ message: @autoclosure () -> String = "invariant violated") {
    if !condition { fatalError("fuzz invariant: \(message())") }
}

private let schema: CatalogSchema = {
    do {
        return try CatalogSchema.load(path: "schemas/marketplace.json")
    } catch {
        fatalError("run from the repository root (schemas/marketplace.json): \(error)")
    }
}()

private let ids: IDIndex = {
    var index = IDIndex()
    for (kind, prefix) in [("venue", "v"), ("item", "i"), ("user", "u")] {
        for n in 1...20 { _ = index.insert("\(prefix)\(n)", kind: kind, record: n) }
    }
    return index
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 1 else { return 0 }
    let kind = schema.kinds[Int(data[0]) % 3]
    let bytes = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    let file = "\(kind.name).pb"

    var quick = EntityTableDecoder(kind: kind, file: file, ids: ids, count: 1)
    var quickLog = ProblemLog(limit: 100)
    quick.decode(bytes, at: 0, ids: ids, log: &quickLog)

    var general = EntityTableDecoder(kind: kind, file: file, ids: ids, count: 1)
    general.quickPath = false
    var generalLog = ProblemLog(limit: 100)
    general.decode(bytes, at: 0, ids: ids, log: &generalLog)

    check(
        quickLog.listed.map(\.description) == generalLog.listed.map(\.description),
        "the two paths report different problems: \(quickLog.listed) vs \(generalLog.listed)"
    )
    if quick.generalPathRecords == 0 {
        check(generalLog.isEmpty, "the quick path took a record the general path refuses: \(generalLog.listed)")
        check(quick.table == general.table, "the quick path wrote other columns than the general path")
    }
    return 0
}
