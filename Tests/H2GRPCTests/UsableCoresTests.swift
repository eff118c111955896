import CSystemShim
import Foundation
import Testing

@testable import H2GRPC

/// How many cores the default thread counts are sized by: the affinity mask and the cgroup CPU quota.
@Suite("Usable cores")
struct UsableCoresTests {
    @Test("a cgroup v2 cpu.max is rounded up to whole cores; max or a malformed line is no limit")
    func cpuMax() {
        #expect(UsableCores.cores(cpuMax: "100000 100000\n") == 1)
        #expect(UsableCores.cores(cpuMax: "150000 100000\n") == 2)
        #expect(UsableCores.cores(cpuMax: "50000 100000") == 1)
        #expect(UsableCores.cores(cpuMax: "400000 100000") == 4)
        #expect(UsableCores.cores(cpuMax: "max 100000\n") == nil)
        #expect(UsableCores.cores(cpuMax: "") == nil)
        #expect(UsableCores.cores(cpuMax: "100000") == nil)
        #expect(UsableCores.cores(cpuMax: "100000 0") == nil)
        #expect(UsableCores.cores(cpuMax: "-5 100000") == nil)
        #expect(UsableCores.cores(cpuMax: "1 2 3") == nil)
        #expect(UsableCores.cores(cpuMax: "\(Int64.max) 1") == Int(Int32.max))
    }

    @Test("cgroup v1's quota of -1 is no limit; a quota over its period is rounded up")
    func cfsQuota() {
        #expect(UsableCores.cores(quota: "-1\n", period: "100000\n") == nil)
        #expect(UsableCores.cores(quota: "250000\n", period: "100000\n") == 3)
        #expect(UsableCores.cores(quota: "x", period: "100000") == nil)
    }

    /// Files of a fake cgroup tree: path -> text.
    private func reader(_ files: [String: String]) -> (String) -> String? { { files[$0] } }

    @Test("cgroup v2: the smallest quota of the process's cgroup and its ancestors")
    func v2Ancestors() {
        let files = [
            "/cg/cpu.max": "max 100000\n",
            "/cg/kubepods/cpu.max": "300000 100000\n",
            "/cg/kubepods/pod1/cpu.max": "max 100000\n",
            "/cg/kubepods/pod1/app/cpu.max": "max 100000\n",
        ]
        let quota = UsableCores.cgroupQuota(membership: "0::/kubepods/pod1/app\n", root: "/cg", read: reader(files))
        #expect(quota == 3)
        let tighter = files.merging(["/cg/kubepods/pod1/app/cpu.max": "120000 100000\n"]) { $1 }
        #expect(UsableCores.cgroupQuota(membership: "0::/kubepods/pod1/app", root: "/cg", read: reader(tighter)) == 2)
        // A namespaced cgroup sees itself as the root.
        #expect(
            UsableCores.cgroupQuota(membership: "0::/", root: "/cg", read: reader(["/cg/cpu.max": "100000 100000"]))
                == 1
        )
    }

    @Test("cgroup v1: the cpu controller's quota over its period; other controllers and unreadable files are ignored")
    func v1() {
        let membership = """
            12:memory:/docker/abc
            4:cpu,cpuacct:/docker/abc
            1:name=systemd:/docker/abc
            0::/
            """
        let files = [
            "/cg/cpu/docker/abc/cpu.cfs_quota_us": "200000\n",
            "/cg/cpu/docker/abc/cpu.cfs_period_us": "100000\n",
            "/cg/cpu/docker/cpu.cfs_quota_us": "-1\n",
            "/cg/cpu/docker/cpu.cfs_period_us": "100000\n",
            "/cg/memory/docker/abc/cpu.cfs_quota_us": "100000\n",
            "/cg/memory/docker/abc/cpu.cfs_period_us": "100000\n",
        ]
        #expect(UsableCores.cgroupQuota(membership: membership, root: "/cg", read: reader(files)) == 2)
        #expect(UsableCores.cgroupQuota(membership: membership, root: "/cg", read: reader([:])) == nil)
        #expect(UsableCores.cgroupQuota(membership: "", root: "/cg", read: reader(files)) == nil)
        #expect(
            UsableCores.cgroupQuota(membership: "garbage\n1:cpu\n2:cpu:relative", root: "/cg", read: reader(files))
                == nil
        )
    }

    @Test("the count is at least 1 and at most the processors online and the affinity mask")
    func count() {
        let online = ProcessInfo.processInfo.activeProcessorCount
        let affinity = Int(csystem_affinity_cpu_count())
        #expect(affinity >= 1)
        #expect(UsableCores.count >= 1)
        #expect(UsableCores.count <= min(online, affinity))
        // No cgroup files at all: the affinity mask and the processors decide.
        let measured = UsableCores.measure(cgroupRoot: "/nonexistent", selfCgroup: "/nonexistent/cgroup")
        #expect(measured == max(1, min(online, affinity)))
    }

    @Test("a thread confined to one CPU reads an affinity of one")
    func affinityOfOneCPU() async throws {
        // A thread of its own, so the test process's other threads keep their mask.
        let result = await withCheckedContinuation { (done: CheckedContinuation<(Int32, Int32), Never>) in
            let thread = Thread {
                let pinned = csystem_pin_thread(0)
                done.resume(returning: (pinned, csystem_affinity_cpu_count()))
            }
            thread.start()
        }
        #expect(result.0 == 0)
        #expect(result.1 == 1)
    }
}
