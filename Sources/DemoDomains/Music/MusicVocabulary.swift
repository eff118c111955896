/// The fixed vocabularies of the music demo: genres, countries and the words names are made of.
public enum MusicVocabulary {
    /// One genre: its name in records and the typical sound of its tracks.
    public struct Genre: Sendable {
        /// The tag written in `genres`.
        public var name: String
        /// Typical energy, 0 (calm) to 1 (intense).
        public var energy: Double
        /// Typical tempo, beats per minute.
        public var tempo: Double
        /// Typical track length, seconds.
        public var durationSeconds: Double
        /// How many artists play it, relative to the others.
        public var share: Double
    }

    /// The genres, in a ring of neighbours: each sounds most like the ones beside it, so an artist's second genre,
    /// a listener's tastes and a session's drift mostly move one step along the ring.
    public static let genres: [Genre] = [
        Genre(name: "ambient", energy: 0.2, tempo: 85, durationSeconds: 330, share: 0.4),
        Genre(name: "classical", energy: 0.3, tempo: 100, durationSeconds: 380, share: 0.5),
        Genre(name: "jazz", energy: 0.4, tempo: 112, durationSeconds: 300, share: 0.6),
        Genre(name: "blues", energy: 0.45, tempo: 95, durationSeconds: 260, share: 0.4),
        Genre(name: "soul", energy: 0.5, tempo: 100, durationSeconds: 240, share: 0.6),
        Genre(name: "r_and_b", energy: 0.55, tempo: 98, durationSeconds: 225, share: 1.5),
        Genre(name: "hip_hop", energy: 0.7, tempo: 92, durationSeconds: 210, share: 2.5),
        Genre(name: "reggae", energy: 0.55, tempo: 80, durationSeconds: 230, share: 0.5),
        Genre(name: "latin", energy: 0.75, tempo: 105, durationSeconds: 215, share: 1.2),
        Genre(name: "pop", energy: 0.65, tempo: 118, durationSeconds: 205, share: 3.0),
        Genre(name: "electronic", energy: 0.8, tempo: 125, durationSeconds: 300, share: 2.0),
        Genre(name: "metal", energy: 0.92, tempo: 140, durationSeconds: 280, share: 0.8),
        Genre(name: "rock", energy: 0.75, tempo: 126, durationSeconds: 235, share: 2.0),
        Genre(name: "indie", energy: 0.55, tempo: 120, durationSeconds: 220, share: 1.5),
        Genre(name: "folk", energy: 0.35, tempo: 96, durationSeconds: 225, share: 0.8),
        Genre(name: "country", energy: 0.5, tempo: 108, durationSeconds: 210, share: 1.0),
    ]

    /// The two neighbours of genre `g` on the ring.
    static func neighbours(of g: Int) -> (Int, Int) {
        ((g + genres.count - 1) % genres.count, (g + 1) % genres.count)
    }

    /// Countries of artists and listeners (ISO 3166 alpha-2) with their share of listeners.
    static let countries: [(code: String, share: Double)] = [
        ("US", 5), ("GB", 2.5), ("DE", 2.5), ("SE", 1.5), ("NO", 1), ("FI", 1), ("PL", 1.5), ("FR", 2),
        ("ES", 1.5), ("NL", 1.2), ("BR", 2.5), ("MX", 1.5), ("JP", 2), ("KR", 1),
    ]

    static let adjectives = [
        "Midnight", "Golden", "Quiet", "Electric", "Silver", "Broken", "Wild", "Neon", "Paper", "Velvet", "Hollow",
        "Burning", "Frozen", "Distant", "Crimson", "Gentle", "Restless", "Lonely", "Bright", "Secret", "Sleepless",
        "Northern", "Salt", "Amber", "Faded", "Glass", "Hidden", "Heavy", "Last", "Little",
    ]
    static let nouns = [
        "Drive", "Rain", "Rooms", "Roads", "Heart", "River", "Light", "Summer", "Fire", "Dreams", "Echo", "Garden",
        "Shadows", "Lines", "Waves", "Morning", "Static", "Wolves", "Letters", "Harbour", "Stars", "Machines",
        "Mountains", "Signals", "Tides", "Horses", "Bridges", "Mirrors", "Satellites", "Streets",
    ]
    static let firstNames = [
        "Marta", "Jonas", "Aiko", "Lucas", "Sofia", "Noah", "Elena", "Mateo", "Freja", "Oskar", "Amara", "Theo",
        "Ines", "Kai", "Leila", "Hugo", "Nina", "Ravi", "Yuna", "Emil",
    ]
    static let lastNames = [
        "Lind", "Moreau", "Tanaka", "Silva", "Novak", "Berg", "Okafor", "Rossi", "Kowalski", "Park", "Haas",
        "Duarte", "Virtanen", "Costa", "Ahmed", "Jensen", "Weber", "Santos", "Kim", "Olsen",
    ]
}
