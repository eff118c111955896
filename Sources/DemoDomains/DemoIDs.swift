/// The demo domains number their entities: the entity at index `k` has the id `<prefix><k + 1>`.
enum DemoIDs {
    /// The index of `id` among `count` numbered ids with `prefix` ("v12" is 11), or nil for any other string.
    static func index(_ id: String, prefix: Character, count: Int) -> Int? {
        guard id.first == prefix, let n = Int(id.dropFirst()), n >= 1, n <= count, "\(prefix)\(n)" == id else {
            return nil
        }
        return n - 1
    }
}
