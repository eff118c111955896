import CatalogSnapshot
import Foundation
import Testing

@testable import DemoDomains

/// The music demo: generated deterministically, written as a valid snapshot of schemas/music.json, with bounded
/// histories that leave out the held-out sessions the simulator evaluates on.
@Suite struct MusicDemoTests {
    /// One demo for the whole target (generation dominates the tests' time in a debug build).
    static let scale = 0.01
    static let demo = MusicDemo.generate(seed: 7, scale: scale)

    /// A fresh folder under the temporary directory, removed by the caller.
    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("demo-domains-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func theSameSeedGivesTheSameRecordFilesAndAnotherSeedDoesNot() throws {
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let scale = 0.004
        let demo = MusicDemo.generate(seed: 7, scale: scale)
        let first = try demo.writeSnapshot(to: folder.appendingPathComponent("a").path, snapshotID: "music-a")
        let replay = MusicDemo.generate(seed: 7, scale: scale)
        let again = try replay.writeSnapshot(to: folder.appendingPathComponent("b").path, snapshotID: "music-b")
        let other = try MusicDemo.generate(seed: 8, scale: scale)
            .writeSnapshot(to: folder.appendingPathComponent("c").path, snapshotID: "music-c")
        for kind in ["track", "artist", "user"] {
            let name = "\(kind).pb"
            let a = try Data(contentsOf: folder.appendingPathComponent("a/\(name)"))
            let b = try Data(contentsOf: folder.appendingPathComponent("b/\(name)"))
            #expect(a == b, "\(name) differs between two runs of seed 7")
            #expect(first.file(named: name)?.sha256 == again.file(named: name)?.sha256)
            #expect(first.file(named: name)?.sha256 != other.file(named: name)?.sha256, "\(name) ignores the seed")
        }
        #expect(replay.heldOutSessions.map(\.tracks) == demo.heldOutSessions.map(\.tracks))
        #expect(replay.heldOutSessions.map(\.next) == demo.heldOutSessions.map(\.next))
    }

    @Test(arguments: [0.002, 0.01])
    func countsFollowTheScale(scale: Double) {
        let demo = scale == Self.scale ? Self.demo : MusicDemo.generate(seed: 7, scale: scale)
        let c = demo.catalog
        #expect(c.trackCount == Int((50_000 * scale).rounded()))
        #expect(c.artistCount == Int((5_000 * scale).rounded()))
        #expect(c.userCount == Int((100_000 * scale).rounded()))
        #expect(c.tracks(of: 0).count >= 1)
        #expect(c.userListenStart.count == c.userCount + 1 && c.userFollowStart.count == c.userCount + 1)
        #expect(c.trackEmbedding.count == c.trackCount * 32 && c.userEmbedding.count == c.userCount * 32)
    }

    @Test func theWrittenSnapshotIsValidUnderTheMusicSchema() throws {
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("snap").path
        let manifest = try Self.demo.writeSnapshot(to: path, snapshotID: "music-test")
        #expect(manifest.schemaName == "music")
        #expect(manifest.records(of: "track") == Self.demo.catalog.trackCount)
        #expect(manifest.records(of: "artist") == Self.demo.catalog.artistCount)
        #expect(manifest.records(of: "user") == Self.demo.catalog.userCount)
        let validation = try SnapshotValidator().validate(directory: path)
        #expect(validation.isValid, "\(validation.text())")
        #expect(validation.problems.isEmpty)

        let reader = try SnapshotReader(directory: path)
        let first = try #require(try reader.records(of: "track").first)
        #expect(first.id == "t1")
        for name in ["title", "artist", "album", "genres", "tempo", "energy", "duration_s", "release_date"] {
            #expect(first.attributes[name] != nil, "track t1 has no \(name)")
        }
        #expect(first.attributes["popularity"] != nil && first.attributes["embedding"] != nil)
    }

    @Test func historiesAreTheLastListensOldestFirstEachPlayFollowedByItsEnd() throws {
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("snap").path
        try Self.demo.writeSnapshot(to: path)
        var events = 0
        var longest = 0
        try SnapshotReader(directory: path).forEachRecord(of: "user") { user in
            guard case .history(let listens)? = user.attributes["listens"] else { return }
            events += listens.count
            longest = max(longest, listens.count)
            #expect(listens.count <= 2 * MusicDemo.maxListens, "\(user.id): \(listens.count) events")
            #expect(listens.count % 2 == 0)
            for (i, event) in listens.enumerated() {
                #expect(event.unixMilliseconds < MusicDemo.exportTime)
                if i > 0 { #expect(event.unixMilliseconds >= listens[i - 1].unixMilliseconds, "\(user.id) unsorted") }
                if i % 2 == 0 {
                    #expect(event.event == "play")
                } else {
                    #expect(event.event == "complete" || event.event == "skip")
                    #expect(event.entityID == listens[i - 1].entityID)
                }
            }
            if case .history(let follows)? = user.attributes["follows"] {
                #expect(follows.allSatisfy { $0.event == "follow" })
                #expect(zip(follows, follows.dropFirst()).allSatisfy { $0.unixMilliseconds <= $1.unixMilliseconds })
            }
        }
        #expect(events > 0)
        #expect(longest == 2 * MusicDemo.maxListens, "no listener reaches the bound at this scale")
        let summary = Self.demo.catalog.listenSummary
        #expect(summary.skipped > 0.1 && summary.skipped < 0.6, "skip share \(summary.skipped)")
    }

    @Test func heldOutSessionsAreAfterTheExportAndNotInTheWrittenHistories() throws {
        let c = Self.demo.catalog
        let sessions = Self.demo.heldOutSessions
        #expect(!sessions.isEmpty)
        #expect(
            sessions.count == (0..<c.userCount).filter { MusicSessionSimulator.isHeldOut(userID: "u\($0 + 1)") }.count
        )
        for session in sessions {
            #expect(MusicSessionSimulator.isHeldOut(userID: MusicCatalog.userID(session.user)))
            #expect(session.start >= MusicDemo.exportTime)
            #expect((1...12).contains(session.tracks.count))
            let written = c.listens(of: session.user)
            #expect(written.allSatisfy { c.listenStart[$0] < session.start && c.listenEnd[$0] < MusicDemo.exportTime })
        }
        // Popularity is log(1 + plays) of the simulated history before the export: at least the written listens.
        var written = [Int](repeating: 0, count: c.trackCount)
        for t in c.listenTrack { written[Int(t)] += 1 }
        for t in 0..<c.trackCount {
            #expect(Int(expm1(Double(c.trackPopularity[t])).rounded()) >= written[t], "t\(t + 1)")
        }
    }

    @Test func sessionsShowArtistRunsGenreFocusAndFavourites() {
        let c = Self.demo.catalog
        var transitions = 0
        var sameArtist = 0
        var sameGenre = 0
        var replays = 0
        for u in 0..<c.userCount {
            let listens = c.listens(of: u)
            var seen = Set<Int32>()
            for l in listens {
                if !seen.insert(c.listenTrack[l]).inserted { replays += 1 }
                // A play within seconds of the previous listen's end continues its session.
                guard l > listens.lowerBound, c.listenStart[l] - c.listenEnd[l - 1] < 10_000 else { continue }
                let (a, b) = (Int(c.listenTrack[l - 1]), Int(c.listenTrack[l]))
                transitions += 1
                if c.trackArtist[a] == c.trackArtist[b] { sameArtist += 1 }
                if c.trackGenre[a] == c.trackGenre[b] { sameGenre += 1 }
            }
        }
        #expect(transitions > 1000)
        // By chance, two tracks share an artist about 1 time in 50 and a first genre about 1 in 10.
        #expect(Double(sameArtist) / Double(transitions) > 0.2)
        #expect(Double(sameArtist) / Double(transitions) < 0.7)
        #expect(Double(sameGenre) / Double(transitions) > 0.5)
        #expect(Double(replays) / Double(c.listenTrack.count) > 0.05, "listeners never come back to a favourite")
    }

    @Test func embeddingsCarryTheGenreStructure() {
        let c = Self.demo.catalog
        let d = MusicCatalog.embeddingDimension
        func cosine(_ a: Int, _ b: Int) -> Float {
            var dot: Float = 0
            var na: Float = 0
            var nb: Float = 0
            for i in 0..<d {
                let x = c.trackEmbedding[a * d + i]
                let y = c.trackEmbedding[b * d + i]
                dot += x * y
                na += x * x
                nb += y * y
            }
            return dot / (na * nb).squareRoot()
        }
        var same: [Float] = []
        var different: [Float] = []
        for a in 0..<min(c.trackCount, 200) {
            for b in (a + 1)..<min(c.trackCount, 200) {
                if c.trackGenre[a] == c.trackGenre[b] {
                    same.append(cosine(a, b))
                } else {
                    different.append(cosine(a, b))
                }
            }
        }
        let meanSame = same.reduce(0, +) / Float(same.count)
        let meanDifferent = different.reduce(0, +) / Float(different.count)
        #expect(meanSame > meanDifferent + 0.2, "same genre \(meanSame), different \(meanDifferent)")
    }

    @Test func theEmbeddedSchemaIsTheShippedMusicSchema() throws {
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("schemas/music.json")
        let embedded = try #require(MusicDemo.schemaURL)
        #expect(try Data(contentsOf: shipped) == Data(contentsOf: embedded))
    }
}
