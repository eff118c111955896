import Testing

@testable import CatalogSnapshot

@Suite("SHA-256")
struct SHA256Tests {
    /// The FIPS 180-2 / NIST CAVP example messages and their digests.
    @Test(
        "NIST example messages hash to their published digests",
        arguments: [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
            ),
            (
                "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                    + "mnopqrstnopqrstu",
                "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"
            ),
        ]
    )
    func nistVectors(message: String, digest: String) {
        #expect(SHA256.hexDigest(Array(message.utf8)) == digest)
    }

    @Test("One million times 'a' (NIST long message) hashes to its published digest")
    func millionA() {
        var hash = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hash.update(chunk) }
        #expect(SHA256.hex(hash.finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Lengths around the 55/56/64-byte padding boundaries, digests from Python's hashlib.
    @Test(
        "Messages around the padding boundaries hash correctly",
        arguments: [
            (55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"),
            (56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"),
            (57, "f13b2d724659eb3bf47f2dd6af1accc87b81f09f59f2b75e5c0bed6589dfe8c6"),
            (63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"),
            (64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"),
            (65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"),
            (119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"),
            (120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"),
            (128, "6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e"),
        ]
    )
    func paddingBoundaries(length: Int, digest: String) {
        #expect(SHA256.hexDigest([UInt8](repeating: UInt8(ascii: "a"), count: length)) == digest)
    }

    @Test("Feeding a message in pieces of any size gives the same digest as feeding it at once")
    func incrementalEqualsOneShot() {
        let message = (0..<100_000).map { UInt8($0 % 251) }
        let expected = "cd2df694e424bc7968cc37f47751019e5ca0cd1bdf2e479ea537c3a1c32ee1aa"
        #expect(SHA256.hexDigest(message) == expected)
        for pieceSize in [1, 7, 63, 64, 65, 1000, 65_537] {
            var hash = SHA256()
            var offset = 0
            while offset < message.count {
                let end = min(offset + pieceSize, message.count)
                hash.update(message[offset..<end])
                offset = end
            }
            #expect(SHA256.hex(hash.finalize()) == expected, "pieces of \(pieceSize)")
        }
    }
}

@Suite("SHA-256 on the CPU's SHA extensions")
struct SHA256AcceleratedTests {
    @Test("the accelerated and the Swift rounds give the same digest for every length and chunking")
    func bothPathsAgree() {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt8 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: seed >> 33)
        }
        let data = (0..<5_000).map { _ in next() }
        for length in [0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 1000, 4096, 5000] {
            let message = Array(data.prefix(length))
            for chunk in [1, 7, 64, 100, 5000] {
                var fast = SHA256(accelerated: true)
                var portable = SHA256(accelerated: false)
                var start = 0
                while start < message.count {
                    let end = min(start + chunk, message.count)
                    fast.update(message[start..<end])
                    portable.update(message[start..<end])
                    start = end
                }
                #expect(fast.finalize() == portable.finalize(), "length \(length), chunks of \(chunk)")
            }
        }
    }

    @Test("NIST's two-block message through each path")
    func nistThroughEachPath() {
        let message = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        for accelerated in [true, false] {
            var hash = SHA256(accelerated: accelerated)
            hash.update(message)
            #expect(
                SHA256.hex(hash.finalize()) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
                "accelerated: \(accelerated)"
            )
        }
    }
}
