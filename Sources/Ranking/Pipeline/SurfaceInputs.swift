/// The Recommend inputs a surface requires (``SurfaceConfig/inputs``), checked and resolved against the catalog.
///
/// Every problem is the caller's, so each is an `invalidArgument` (an unknown `venue_id` stays `notFound`, as it was
/// before inputs were configurable) that names what is accepted; nothing a caller sends reaches a precondition.
struct SurfaceInputs {
    /// The venue an item surface ranks in: `venue_id`'s, or the context items' venue.
    var venueIndex: Int?
    /// The category's tag bit (``Catalog``'s `venueTags`), or 0.
    var categoryTags: UInt64 = 0
    /// The context items, sorted and without repeats.
    var contextItems: [Int32] = []

    /// Checks `query`'s inputs against what `surface` requires.
    /// - Parameter surfacesTaking: the surfaces of the engine that take an input, for messages that point elsewhere.
    static func resolve(
        venueID: String,
        category: String,
        contextItemIDs: [String],
        surface: ResolvedSurface,
        catalog: Catalog,
        surfacesTaking: (SurfaceInput) -> [String]
    ) throws -> SurfaceInputs {
        let inputs = surface.config.inputs
        let name = surface.name
        var resolved = SurfaceInputs()
        func refuseUnexpected(_ input: SurfaceInput, field: String) throws {
            let others = surfacesTaking(input)
            throw RankingError.invalidArgument(
                "surface \(name) takes no \(field)"
                    + (others.isEmpty ? "" : " (surfaces that do: \(others.joined(separator: ", ")))")
            )
        }

        if inputs.contains(.category) {
            let cuisines = catalog.cuisines
            // The catalog's cuisines, the first 20 of a long list.
            let known =
                cuisines.prefix(20).joined(separator: ", ")
                + (cuisines.count > 20 ? " and \(cuisines.count - 20) more" : "")
            guard !category.isEmpty else {
                throw RankingError.invalidArgument("category is required for surface \(name); one of: \(known)")
            }
            guard let cuisine = cuisines.firstIndex(of: category), cuisine < Catalog.maximumCuisines else {
                throw RankingError.invalidArgument("unknown category \(quoted(category)); one of: \(known)")
            }
            resolved.categoryTags = UInt64(1) << UInt64(cuisine)
        } else if !category.isEmpty {
            try refuseUnexpected(.category, field: "category")
        }

        if inputs.contains(.contextItems) {
            guard !contextItemIDs.isEmpty else {
                throw RankingError.invalidArgument(
                    "context_item_ids is required for surface \(name): the items already chosen (at least one)"
                )
            }
            guard contextItemIDs.count <= RecommendQuery.maxContextItems else {
                throw RankingError.invalidArgument(
                    "\(contextItemIDs.count) context_item_ids is more than the \(RecommendQuery.maxContextItems) "
                        + "a request may send"
                )
            }
            var unknown: [String] = []
            var items: [Int32] = []
            items.reserveCapacity(contextItemIDs.count)
            for id in contextItemIDs {
                if let item = catalog.itemIndex(id) {
                    items.append(Int32(item))
                } else {
                    unknown.append(id)
                }
            }
            guard unknown.isEmpty else {
                throw RankingError.invalidArgument(
                    "context_item_ids: \(unknown.count) of \(contextItemIDs.count) are not items of the catalog: "
                        + listed(unknown)
                )
            }
            items.sort()
            resolved.contextItems = items.uniqued()
            var venues: [Int32] = []
            for item in resolved.contextItems where !venues.contains(catalog.itemVenue[Int(item)]) {
                venues.append(catalog.itemVenue[Int(item)])
            }
            // A marketplace cart is one venue's order: complements from two kitchens cannot be delivered together.
            guard venues.count == 1 else {
                throw RankingError.invalidArgument(
                    "context_item_ids come from \(venues.count) venues ("
                        + listed(venues.map { catalog.venueID(Int($0)) })
                        + "); surface \(name) ranks within one venue, so they must all be one venue's items"
                )
            }
            let venue = Int(venues[0])
            if !venueID.isEmpty && catalog.venueIndex(venueID) != venue {
                throw RankingError.invalidArgument(
                    "venue_id \(quoted(venueID)) is not the venue of context_item_ids (\(catalog.venueID(venue)))"
                )
            }
            resolved.venueIndex = venue
        } else if !contextItemIDs.isEmpty {
            try refuseUnexpected(.contextItems, field: "context_item_ids")
        }

        if inputs.contains(.venue) && resolved.venueIndex == nil {
            guard !venueID.isEmpty else {
                throw RankingError.invalidArgument("venue_id is required for surface \(name)")
            }
            guard let v = catalog.venueIndex(venueID) else {
                throw RankingError.notFound("unknown venue \(venueID.count <= 64 ? venueID : quoted(venueID))")
            }
            resolved.venueIndex = v
        }
        return resolved
    }

    /// A caller's string in a message, cut short: messages must stay readable whatever was sent.
    static func quoted(_ text: String) -> String {
        text.count <= 64 ? "\"\(text)\"" : "\"\(text.prefix(64))...\" (\(text.utf8.count) bytes)"
    }

    /// The first few of `values`, quoted, and how many more there are.
    static func listed(_ values: [String]) -> String {
        let shown = values.prefix(5).map(quoted).joined(separator: ", ")
        return values.count > 5 ? shown + " and \(values.count - 5) more" : shown
    }
}

extension Array where Element == Int32 {
    /// A sorted array without repeats.
    fileprivate func uniqued() -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(count)
        for value in self where out.last != value { out.append(value) }
        return out
    }
}
