import Dispatch
import ExposureLog
import Foundation
import H2GRPC
import Ranking

/// Builds the exposure log's record of an answer: who was shown what, in which experiments, and how long it took.
/// Runs on the worker thread after the answer is sent; the record goes into the log's bounded queue and is encoded
/// and written by the log's own thread.
enum ExposureRecording {
    /// Response header naming the request id an answer's exposure is logged under (the caller's, or one rankd made).
    static let requestIDHeader = "rankd-request-id"

    /// A request id for a call that sent none: "rankd-" and 16 hex digits, unique enough to join a day's events.
    static func makeRequestID() -> String {
        let value = UInt64.random(in: 0...UInt64.max)
        let hex = String(value, radix: 16)
        return "rankd-" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The request id the exposure is logged under; a made one is sent back in the response headers.
    static func requestID(_ given: String, call: ServerCall) -> String {
        guard given.isEmpty else { return given }
        let made = makeRequestID()
        var metadata = call.responseMetadata
        metadata.append(requestIDHeader, made)
        call.responseMetadata = metadata
        return made
    }

    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// Microseconds from the call's arrival (or its start on the worker) to now.
    static func latencyMicros(since arrival: DispatchTime?, started: DispatchTime) -> Int64 {
        let from = arrival ?? started
        let now = DispatchTime.now().uptimeNanoseconds
        return now > from.uptimeNanoseconds ? Int64((now - from.uptimeNanoseconds) / 1000) : 0
    }

    static func assignments(_ placements: [ExperimentAssignment.Placement]) -> [ExposureRecord.Assignment] {
        placements.map {
            ExposureRecord.Assignment(
                layer: $0.layer,
                experiment: $0.experiment,
                variant: $0.variant,
                plannedShare: $0.plannedShare
            )
        }
    }

    /// `entries` as exposed items from position `first` on.
    static func items(
        _ entries: [RankedEntry],
        sourceNames: [String],
        first: Int,
        section: String,
        into items: inout [ExposureRecord.Item]
    ) {
        for (k, entry) in entries.enumerated() {
            items.append(
                ExposureRecord.Item(
                    itemID: entry.itemID,
                    position: Int32(clamping: first + k),
                    score: entry.score,
                    modelScore: entry.modelScore,
                    sources: entry.sourceNames(in: sourceNames),
                    explored: entry.explored,
                    pinned: entry.pinned,
                    section: section
                )
            )
        }
    }

    /// The record of an answer to `method` for `userID` in `context` on `surface`.
    static func record(
        method: String,
        userID: String,
        context: RequestContext,
        surface: String,
        requestID: String,
        assignments placements: [ExperimentAssignment.Placement],
        modelVersion: String,
        snapshotID: String,
        items: [ExposureRecord.Item],
        latencyMicros: Int64,
        degradedStages: [String],
        candidateCount: Int
    ) -> ExposureRecord {
        let now = nowMs()
        return ExposureRecord(
            requestID: requestID,
            timeUnixMs: now,
            requestTimeUnixMs: context.requestTimeUnixMs != 0 ? context.requestTimeUnixMs : now,
            userID: userID,
            sessionID: context.sessionID,
            surface: surface,
            method: method,
            assignments: assignments(placements),
            modelVersion: modelVersion,
            snapshotID: snapshotID,
            items: items,
            latencyMicros: latencyMicros,
            degradedStages: degradedStages,
            candidateCount: Int32(clamping: candidateCount)
        )
    }

    /// The record of a Rank answer; its page's first position continues the count of earlier pages.
    static func record(
        rank query: RankQuery,
        result: RankResult,
        requestID: String,
        latencyMicros: Int64
    )
        -> ExposureRecord
    {
        var items: [ExposureRecord.Item] = []
        items.reserveCapacity(result.items.count)
        Self.items(result.items, sourceNames: result.sourceNames, first: result.pageOffset, section: "", into: &items)
        return record(
            method: "Rank",
            userID: query.userID,
            context: query.context,
            surface: query.surface,
            requestID: requestID,
            assignments: result.assignments,
            modelVersion: result.modelVersion,
            snapshotID: result.snapshotID,
            items: items,
            latencyMicros: latencyMicros,
            degradedStages: result.degradedStages,
            candidateCount: result.candidateCount
        )
    }
}

/// Gathers a Recommend answer's sections as they are sent, then makes its exposure record.
struct RecommendExposure {
    let query: RecommendQuery
    let requestID: String
    private var items: [ExposureRecord.Item] = []
    private var last: RecommendSection?
    private var degraded: [String] = []

    init(query: RecommendQuery, requestID: String) {
        self.query = query
        self.requestID = requestID
    }

    mutating func add(_ section: RecommendSection) {
        ExposureRecording.items(
            section.items,
            sourceNames: section.sourceNames,
            first: items.count,
            section: section.key,
            into: &items
        )
        for stage in section.degradedStages where !degraded.contains(stage) { degraded.append(stage) }
        last = section
    }

    func record(candidateCount: Int, latencyMicros: Int64) -> ExposureRecord {
        ExposureRecording.record(
            method: "Recommend",
            userID: query.userID,
            context: query.context,
            surface: query.surface,
            requestID: requestID,
            assignments: last?.assignments ?? [],
            modelVersion: last?.modelVersion ?? "",
            snapshotID: last?.snapshotID ?? "",
            items: items,
            latencyMicros: latencyMicros,
            degradedStages: degraded,
            candidateCount: candidateCount
        )
    }
}
