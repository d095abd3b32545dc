// swift-tools-version:6.2
// The acdd package: an ACD/IVR telephony daemon. Targets follow docs/architecture.md; dependencies
// point down, and the pure cores (TOML, SIPMessage, JSON, IVR, the ACD engine, the call session)
// import no networking.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let nio: [Target.Dependency] = [
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "NIOPosix", package: "swift-nio"),
]
let log: Target.Dependency = .product(name: "Logging", package: "swift-log")
let atomics: Target.Dependency = .product(name: "Atomics", package: "swift-atomics")
// SIP over TLS (issue 20): BoringSSL inside swift-nio-ssl, so no system OpenSSL is linked.
let ssl: Target.Dependency = .product(name: "NIOSSL", package: "swift-nio-ssl")

let package = Package(
    name: "acdd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "acdd", targets: ["ACDDaemon"]),
        .executable(name: "acdctl", targets: ["acdctl"]),
        .executable(name: "acd-bench", targets: ["ACDBench"]),
        .executable(name: "lockfree-stress", targets: ["LockFreeStress"]),
        .executable(name: "relay-load", targets: ["RelayLoad"]),
        .executable(name: "acd-crm", targets: ["ACDCRM"]),
        .executable(name: "fuzz-sip", targets: ["FuzzSIP"]),
        .executable(name: "fuzz-rtp", targets: ["FuzzRTP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // C seams: the Debian -dev packages installed by scripts/setup.sh.
        .systemLibrary(name: "CSpanDSP", pkgConfig: "spandsp"),
        .systemLibrary(name: "CSndFile", pkgConfig: "sndfile"),
        .systemLibrary(name: "CALSA", pkgConfig: "alsa"),

        .target(name: "TOML", swiftSettings: swiftSettings),
        // The JSON value of control replies, CRM events and the event stream, and its writer: its
        // own target so that the call layer and the CRM bridge need not depend on the control socket.
        .target(name: "JSON", swiftSettings: swiftSettings),
        // The few lock-free structures where threads meet; nothing else uses atomics beyond counters.
        .target(name: "LockFree", dependencies: [atomics], swiftSettings: swiftSettings),
        // Stress of LockFree, built and run under ThreadSanitizer by `make test` (see Makefile).
        .executableTarget(name: "LockFreeStress", dependencies: ["LockFree"], swiftSettings: swiftSettings),
        // The pure ACD engine and the thread that owns it.
        .target(
            name: "ACD",
            dependencies: ["LockFree", atomics, .product(name: "HeapModule", package: "swift-collections")],
            swiftSettings: swiftSettings),
        .target(name: "SIPMessage", swiftSettings: swiftSettings),
        .target(
            name: "SIP",
            dependencies: ["SIPMessage", "CMediaIO", log, .product(name: "Crypto", package: "swift-crypto"), ssl] + nio,
            swiftSettings: swiftSettings),
        // The media loops' C seam: recvmmsg into a shared arena, sendto, epoll_pwait2, eventfd; also
        // SIP's UDP socket, sent on with sendto so that no failed send can close the listener.
        .target(name: "CMediaIO"),
        // The system resolver for trunks named by DNS (SRV and A/AAAA, RFC 3263): libresolv.
        .target(name: "CResolv", linkerSettings: [.linkedLibrary("resolv")]),
        .target(name: "Media", dependencies: ["CSpanDSP", "CMediaIO", log, atomics] + nio, swiftSettings: swiftSettings),
        // The prompt store: WAVs read with libsndfile and converted once at load, shared by every call.
        .target(name: "Prompts", dependencies: ["Media", "CSndFile"], swiftSettings: swiftSettings),
        // IVR flows, business hours and the pure interpreter: no audio, no I/O.
        .target(name: "IVR", swiftSettings: swiftSettings),
        // Recordings and voicemail: frames from media loops through SPSC rings to a writer thread.
        .target(
            name: "Recording", dependencies: ["LockFree", "CSndFile", "CALSA", atomics, .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings),
        .target(
            name: "Calls", dependencies: ["SIP", "SIPMessage", "CMediaIO", "CResolv", "Media", "IVR", "Prompts", "ACD", "Recording", "Store", "CRMBridge", "JSON", "Campaigns", log] + nio,
            swiftSettings: swiftSettings),
        .target(name: "Control", dependencies: ["JSON", log] + nio, swiftSettings: swiftSettings),
        // Billing and call-centre reports: pure computations over CDRs and the queue log, and their
        // CSV, JSON and HTML (with SVG charts) renderings.
        .target(name: "Reports", swiftSettings: swiftSettings),
        // Campaigns' rules (contact lists, calling hours, retries), pure: no I/O.
        .target(name: "Campaigns", swiftSettings: swiftSettings),
        // Events to the CRM store through the durable outbox, and lookups by caller number.
        .target(name: "CRMBridge", dependencies: ["Store", "JSON", "LockFree", atomics, log], swiftSettings: swiftSettings),
        .target(name: "Config", dependencies: ["TOML", "SIP", "SIPMessage", "ACD", "Media", "IVR"], swiftSettings: swiftSettings),
        .target(
            name: "Store",
            dependencies: ["SIP", "SIPMessage", "ACD", "LockFree", "Campaigns", log, .product(name: "GRDB", package: "GRDB.swift")] + nio,
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "ACDDaemon",
            dependencies: [
                "Config", "SIP", "SIPMessage", "Calls", "Media", "IVR", "Prompts", "Control", "JSON", "Store", "ACD", "Recording", "CRMBridge", "Reports", "Campaigns", log,
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ] + nio,
            swiftSettings: swiftSettings),
        // The reference CRM store (`acd-crm`): what `make run` starts beside the daemon.
        .executableTarget(
            name: "ACDCRM",
            dependencies: [
                "CRMBridge", "Control", "JSON", log, .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ] + nio,
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "acdctl",
            dependencies: ["Control", "JSON", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "ACDBench", dependencies: ["SIPMessage", "ACD", "LockFree", "Recording", "Store", "CRMBridge", "Control", "Campaigns", log],
            swiftSettings: swiftSettings),
        // Load generator for bench/relay-load.sh: N bridged calls, loss, delay and jitter.
        .target(name: "CBatchIO"),
        .executableTarget(name: "RelayLoad", dependencies: ["SIPMessage", "CBatchIO"], swiftSettings: swiftSettings),
        // What the fuzzers do with one input (the SIP and SDP readers; one call leg's RTP, RTCP and
        // RFC 4733), shared by the libFuzzer executables (`make fuzz`) and the corpus replay tests.
        .target(name: "Fuzzing", dependencies: ["SIP", "SIPMessage", "Media"] + nio, swiftSettings: swiftSettings),
        .executableTarget(name: "FuzzSIP", dependencies: ["Fuzzing"], swiftSettings: swiftSettings),
        .executableTarget(name: "FuzzRTP", dependencies: ["Fuzzing"], swiftSettings: swiftSettings),
        // Fakes shared by the test targets: a manual clock and an in-memory transport.
        .target(name: "TestSupport", dependencies: ["SIP", "SIPMessage", "Media", log] + nio, path: "Tests/TestSupport", swiftSettings: swiftSettings),

        .testTarget(name: "TOMLTests", dependencies: ["TOML"], swiftSettings: swiftSettings),
        .testTarget(name: "FuzzingTests", dependencies: ["Fuzzing"], swiftSettings: swiftSettings),
        .testTarget(name: "LockFreeTests", dependencies: ["LockFree"], swiftSettings: swiftSettings),
        .testTarget(name: "MediaTests", dependencies: ["Media", .product(name: "NIOEmbedded", package: "swift-nio")] + nio, swiftSettings: swiftSettings),
        .testTarget(name: "RecordingTests", dependencies: ["Recording", "CSndFile"], swiftSettings: swiftSettings),
        .testTarget(name: "IVRTests", dependencies: ["IVR"], swiftSettings: swiftSettings),
        .testTarget(name: "PromptsTests", dependencies: ["Prompts", "Media", "CSndFile"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ACDTests", dependencies: ["ACD", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: swiftSettings),
        .testTarget(name: "ReportsTests", dependencies: ["Reports"], swiftSettings: swiftSettings),
        .testTarget(name: "CampaignsTests", dependencies: ["Campaigns"], swiftSettings: swiftSettings),
        // The call session machine with the real ACD engine beside it, on a fake clock.
        .testTarget(
            name: "CallsTests", dependencies: ["Calls", "ACD", "IVR", "Media", "Prompts", "SIP", "SIPMessage", "Store", "TestSupport", log] + nio,
            swiftSettings: swiftSettings),
        .testTarget(name: "CRMBridgeTests", dependencies: ["CRMBridge", "Store", "JSON", log], swiftSettings: swiftSettings),
        .testTarget(name: "JSONTests", dependencies: ["JSON", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "SIPMessageTests", dependencies: ["SIPMessage", "TestSupport"], swiftSettings: swiftSettings),
        // End to end: the built acdd and acdctl, driven by SIPp and plain sockets on loopback.
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["TestSupport", "SIP", "SIPMessage", "Control", "JSON", "Media", ssl] + nio,
            exclude: ["scenarios"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "ControlTests", dependencies: ["Control", "TestSupport", log, .product(name: "NIOTestUtils", package: "swift-nio")] + nio,
            swiftSettings: swiftSettings),
        .testTarget(name: "ConfigTests", dependencies: ["Config", "ACD", "SIP", "SIPMessage", "IVR"], swiftSettings: swiftSettings),
        .testTarget(name: "StoreTests", dependencies: ["Store", "ACD", "SIP", "SIPMessage", "TestSupport", log, .product(name: "GRDB", package: "GRDB.swift")] + nio, swiftSettings: swiftSettings),
        .testTarget(
            name: "SIPTests",
            dependencies: ["SIP", "SIPMessage", "TestSupport", log, ssl, .product(name: "NIOTestUtils", package: "swift-nio")] + nio,
            swiftSettings: swiftSettings),
    ]
)
