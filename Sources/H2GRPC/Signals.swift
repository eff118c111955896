import CSystemShim
import Foundation

/// Process signals (SIGINT, SIGTERM, and SIGHUP for reloads) read synchronously instead of through an asynchronous
/// handler.
public enum TerminationSignals {
    /// Blocks SIGINT, SIGTERM and SIGHUP for this thread and every thread it starts later, and returns a descriptor to
    /// read them from. Call it first thing in `main`, before any thread exists, so no other thread receives them.
    public static func block() throws -> Int32 {
        let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]
        let fd = signals.withUnsafeBufferPointer { csystem_signalfd($0.baseAddress, Int32($0.count)) }
        guard fd >= 0 else { throw RPCError.system("signalfd", -fd) }
        return fd
    }

    /// Waits for the next blocked signal on `fd` and returns its number.
    public static func wait(_ fd: Int32) -> Int32 {
        while true {
            let signal = csystem_signalfd_read(fd)
            if signal > 0 { return signal }
        }
    }
}
