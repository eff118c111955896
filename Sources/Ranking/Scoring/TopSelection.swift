/// Moves the `k` best elements (by `isBetter`) to the front of `items`, in no particular order, in expected linear
/// time: the first scoring phase and the embedding source need the leaders, not their order.
func selectTop<T>(_ items: inout [T], _ k: Int, by isBetter: (T, T) -> Bool) {
    guard k > 0, k < items.count else { return }
    items.withUnsafeMutableBufferPointer { items in
        var lo = 0
        var hi = items.count - 1
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        while lo < hi {
            // A deterministic pseudo-random pivot keeps adversarial (sorted) inputs linear.
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let pivotIndex = lo + Int((state >> 33) % UInt64(hi - lo + 1))
            items.swapAt(pivotIndex, hi)
            let pivot = items[hi]
            // Every element is swapped with the first one not better than the pivot, and that place moves on only
            // when the element was better: no branch on a comparison whose outcome no predictor could learn.
            var store = lo
            for i in lo..<hi {
                let item = items[i]
                let better = isBetter(item, pivot)
                items[i] = items[store]
                items[store] = item
                store += better ? 1 : 0
            }
            items.swapAt(store, hi)
            if store == k - 1 || store == k { return }
            if store < k { lo = store + 1 } else { hi = store - 1 }
        }
    }
}
