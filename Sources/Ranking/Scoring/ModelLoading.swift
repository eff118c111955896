extension RankingEngine {
    /// Loads trained models; replaced by the gradient-boosted tree loader once model files are configured.
    static let defaultLoader: ModelLoader? = nil
}
