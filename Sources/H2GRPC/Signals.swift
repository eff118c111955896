import CSystemShim
import Foundation

/// Process signals (SIGINT, SIGTERM, SIGHUP for reloads and SIGUSR1 for a stats line) read synchronously instead of
/// through an asynchronous handler.
public enum TerminationSignals {
    /// Blocks SIGINT, SIGTERM, SIGHUP and SIGUSR1 for this thread and every thread it starts later, and returns a descriptor to
    /// read them from. Call it first thing in `main`, before any thread exists, so no other thread receives them.
    public static func block() throws -> Int32 {
        let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGUSR1]
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
