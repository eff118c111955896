import ArgumentParser
import CRankingProto
import DemoDomains
import Foundation
import H2GRPC

/// `rankctl simulate`: drives a running rankd as simulated users of a demo's hidden utility, and sends what they do
/// back through Track, so experiments have exposures and outcomes to analyse. See docs/experiments.md.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract:
            "Drive a running rankd as simulated demo users: Recommend, then impressions, clicks, orders or plays.",
        discussion: """
            The simulator builds the demo rankd serves (marketplace or music, from the served snapshot id \
            generated-demo-<domain>-seed<S>-scale<X>) and stops after --duration seconds or --max-visits visits. \
            Exit status 1 when rankd cannot be reached, serves another snapshot, or fails every Recommend. See \
            docs/experiments.md.
            """
    )

    @Option(help: "rankd address, host:port.")
    var target = "127.0.0.1:50051"

    @Option(help: "Distinct simulated users (drawn by --seed).")
    var users = 100

    @Option(help: "How long to simulate, in seconds.")
    var duration = 30.0

    @Option(help: "Demo domain: auto (ask rankd), marketplace or music.")
    var domain = "auto"

    @Option(help: "Seed of the users, visits and every choice they make; request ids are sim-<seed>-<n>.")
    var seed: UInt64 = 1

    @Option(help: "Visits in flight at once (one connection each).")
    var concurrency = 4

    @Option(help: "Visits started per second over all workers; 0 = as fast as the workers go.")
    var rate = 20.0

    @Option(help: "Stop after this many visits even before --duration.")
    var maxVisits = 100_000

    @Option(help: "Deadline of each call, in seconds.")
    var timeout = 5.0

    @Option(
        help: """
            Request time of marketplace visits: meal (a lunch or dinner time of today in the user's city) or now \
            (the wall clock). Events always carry the wall clock.
            """
    )
    var visitTime = "meal"

    @Option(help: "Seed the demo was generated with (default: from the served snapshot id, else 42).")
    var demoSeed: UInt64?

    @Option(help: "Scale the demo was generated at (default: from the served snapshot id, else 1).")
    var demoScale: Double?

    @Option(
        help: """
            Snapshot id rankd must serve (default: the generator's name for the demo, \
            generated-demo-<domain>-seed<S>-scale<X>); set it for a demo snapshot written under another name.
            """
    )
    var snapshotId: String?

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        guard users >= 1 else { throw ValidationError("--users must be at least 1 (got \(users))") }
        guard duration > 0, duration <= 86_400 else {
            throw ValidationError("--duration must be more than 0 and at most 86400 seconds (got \(duration))")
        }
        guard (1...64).contains(concurrency) else {
            throw ValidationError("--concurrency must be 1 to 64 (got \(concurrency))")
        }
        guard rate >= 0, rate.isFinite else { throw ValidationError("--rate must not be negative (got \(rate))") }
        guard maxVisits >= 1 else { throw ValidationError("--max-visits must be at least 1 (got \(maxVisits))") }
        guard timeout > 0, timeout <= 600 else { throw ValidationError("--timeout must be 0 to 600 seconds") }
        guard ["auto", "marketplace", "music"].contains(domain) else {
            throw ValidationError("--domain must be auto, marketplace or music (got \(domain))")
        }
        guard MarketplaceShopper.VisitTime(rawValue: visitTime) != nil else {
            throw ValidationError("--visit-time must be meal or now (got \(visitTime))")
        }
        if let demoScale, !(demoScale > 0 && demoScale.isFinite) {
            throw ValidationError("--demo-scale must be positive")
        }
        _ = try address()
    }

    func address() throws -> (host: String, port: Int) {
        guard let colon = target.lastIndex(of: ":"), let port = Int(target[target.index(after: colon)...]),
            (1...65_535).contains(port)
        else {
            throw ValidationError("--target must be host:port, got \(target)")
        }
        return (String(target[..<colon]), port)
    }

    func run() throws {
        let (host, port) = try address()
        let probe = SimulationClient(host: host, port: port, timeoutSeconds: timeout)
        let health: (serving: Bool, snapshotID: String?, status: GRPCStatus)
        do {
            health = try probe.health()
        } catch {
            throw RankCtlError("cannot reach rankd at \(target): \(error)")
        }
        guard health.status.code == .ok else {
            throw RankCtlError("rankd at \(target) answered the health check with \(health.status)")
        }
        guard health.serving else {
            throw RankCtlError("rankd at \(target) is not serving yet (still loading its catalog?); try again shortly")
        }
        let served = health.snapshotID ?? ""
        let identity = DemoIdentity(parsing: served)
        let chosen = try chooseDomain(served: served, identity: identity, probe: probe)
        let seedOfDemo = demoSeed ?? identity?.seed ?? 42
        let scaleOfDemo = demoScale ?? identity?.scale ?? 1
        let expected = snapshotId ?? DemoIdentity(domain: chosen, seed: seedOfDemo, scale: scaleOfDemo).snapshotID
        guard expected == served else {
            throw RankCtlError(
                "rankd at \(target) serves snapshot \"\(served)\", but this simulation would build \"\(expected)\": "
                    + "serve the generated demo (rankd --seed S --scale X, or rankctl demo-data --domain \(chosen) "
                    + "--snapshot-id \(expected)), or say how the served one was generated with --demo-seed and "
                    + "--demo-scale and accept its name with --snapshot-id \(served)"
            )
        }
        let started = Date()
        let world: SimulatedWorld
        switch chosen {
        case "music":
            world = .music(MusicListener(demo: MusicDemo.generate(seed: seedOfDemo, scale: scaleOfDemo), seed: seed))
        default:
            let demo = MarketplaceDemo.generate(seed: seedOfDemo, scale: scaleOfDemo)
            world = .marketplace(MarketplaceShopper(demo: demo, seed: seed))
        }
        if !json {
            print(String(format: "built the %@ demo in %.1f s; simulating", chosen, Date().timeIntervalSince(started)))
            fflush(stdout)
        }
        let run = SimulationRun(
            world: world,
            host: host,
            port: port,
            timeout: timeout,
            users: world.users(count: users),
            concurrency: concurrency,
            rate: rate,
            maxVisits: maxVisits,
            duration: duration,
            visitTime: MarketplaceShopper.VisitTime(rawValue: visitTime)!
        )
        let (elapsed, stoppedBy) = run.run()
        let report = SimulationReport(
            domain: chosen,
            target: target,
            snapshotID: served,
            seed: seed,
            users: run.users.count,
            concurrency: concurrency,
            elapsedSeconds: elapsed,
            stoppedBy: stoppedBy,
            counts: run.tally.snapshot
        )
        print(json ? report.json : report.text)
        if report.counts.recommendCalls > 0, report.recommendOK == 0 {
            throw RankCtlError("every Recommend call failed (\(report.counts.recommendStatus)); is rankd overloaded?")
        }
        if report.counts.trackCalls > 0, report.counts.trackStatus["OK"] == nil {
            throw RankCtlError("every Track call failed (\(report.counts.trackStatus)): rankd stored no event")
        }
    }

    /// The domain to simulate: the one asked for, else the served snapshot's, else the surface rankd answers.
    func chooseDomain(served: String, identity: DemoIdentity?, probe: SimulationClient) throws -> String {
        if domain != "auto" { return domain }
        if let identity { return identity.domain }
        // Named as the simulator's, so an analysis of the exposure log can leave the probes out.
        var query = SimulationClient.Query(
            userID: "u1",
            surface: "next_track",
            requestID: "sim-\(seed)-probe",
            sessionID: ""
        )
        query.contextItemIDs = ["t1"]
        if probe.recommend(query).status == .ok { return "music" }
        query.surface = "discovery"
        query.contextItemIDs = []
        if probe.recommend(query).status == .ok { return "marketplace" }
        throw RankCtlError(
            "cannot tell which demo rankd at \(target) serves (snapshot \"\(served)\" answers neither next_track nor "
                + "discovery): pass --domain marketplace or --domain music"
        )
    }
}

/// The generator's name for a demo snapshot, `generated-demo-<domain>-seed<S>-scale<X>`, and what it says.
struct DemoIdentity: Equatable {
    var domain: String
    var seed: UInt64
    var scale: Double

    init(domain: String, seed: UInt64, scale: Double) {
        self.domain = domain
        self.seed = seed
        self.scale = scale
    }

    /// Reads a generator's name; nil for any other snapshot id.
    init?(parsing id: String) {
        let prefix = "generated-demo-"
        guard id.hasPrefix(prefix) else { return nil }
        let rest = id.dropFirst(prefix.count)
        guard let seedMark = rest.range(of: "-seed"), let scaleMark = rest.range(of: "-scale") else { return nil }
        let domain = String(rest[..<seedMark.lowerBound])
        guard ["marketplace", "music"].contains(domain), seedMark.upperBound <= scaleMark.lowerBound,
            let seed = UInt64(rest[seedMark.upperBound..<scaleMark.lowerBound]),
            let scale = Double(rest[scaleMark.upperBound...]), scale > 0, scale.isFinite
        else { return nil }
        self.init(domain: domain, seed: seed, scale: scale)
    }

    /// As ``MarketplaceDemo/snapshotID`` spells it.
    var snapshotID: String { "generated-demo-\(domain)-seed\(seed)-scale\(scale)" }
}

/// The simulated users of one demo.
enum SimulatedWorld: Sendable {
    case marketplace(MarketplaceShopper)
    case music(MusicListener)

    func users(count: Int) -> [Int] {
        switch self {
        case .marketplace(let shopper): return shopper.users(count: count)
        case .music(let listener): return listener.users(count: count)
        }
    }
}
