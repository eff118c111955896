import ArgumentParser

extension RankCtl {
    /// Commands that work on the ranking library directly, without a server (demo data export, evaluation).
    static var offlineCommands: [ParsableCommand.Type] { [DemoDataCommand.self, EvalCommand.self] }
}
