/// A/B assignment: a user's bucket is a stable hash of the experiment's salt and the user id, so the same user
/// always lands in the same variant, across restarts and machines, and experiments with different salts split
/// users independently.
enum ExperimentAssignment {
    static let bucketCount = 100

    /// The user's bucket in 0..<100.
    static func bucket(userID: String, salt: String) -> Int {
        Int(StableHash.hash(salt, userID) % UInt64(bucketCount))
    }

    /// The variant the user is in; the first variant takes buckets not covered by the others.
    static func variant(userID: String, experiment: ExperimentConfig) -> VariantConfig {
        let bucket = bucket(userID: userID, salt: experiment.salt)
        var upper = 0
        for variant in experiment.variants {
            upper += max(0, variant.buckets)
            if bucket < upper { return variant }
        }
        return experiment.variants[0]
    }
}
