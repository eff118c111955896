import ArgumentParser

extension RankCtl {
    /// Commands that work without a server (demo data export, evaluation, catalog snapshots, experiment reports).
    static var offlineCommands: [ParsableCommand.Type] {
        [
            DemoDataCommand.self, EvalCommand.self, SnapshotCommand.self, MusicTrainingCommand.self,
            ExperimentCommand.self,
        ]
    }
}
