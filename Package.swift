// swift-tools-version:6.2
import PackageDescription

/// Settings every target of ours shares (hummingbird/swift-log style).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// What every service executable links: the shared modules and the libraries their APIs expose.
let serviceDependencies: [Target.Dependency] = [
    "ServiceKit", "Bus", "Wire", "Messages",
    .product(name: "Logging", package: "swift-log"),
    .product(name: "ArgumentParser", package: "swift-argument-parser"),
    .product(name: "GRDB", package: "GRDB.swift"),
    .product(name: "Metrics", package: "swift-metrics"),
]

let package = Package(
    name: "Svyaz",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "refdata", targets: ["RefData"]),
        .executable(name: "deal-status", targets: ["DealStatus"]),
        .executable(name: "netting", targets: ["Netting"]),
        .executable(name: "simulator", targets: ["Simulator"]),
        .executable(name: "terminal", targets: ["Terminal"]),
        .executable(name: "wire-vectors", targets: ["WireVectors"]),
        .executable(name: "svyaz-bench", targets: ["SvyazBench"]),
        .library(name: "Bus", targets: ["Bus"]),
        .library(name: "Wire", targets: ["Wire"]),
        .library(name: "Messages", targets: ["Messages"]),
        .library(name: "ServiceKit", targets: ["ServiceKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        // MARK: Shared
        .systemLibrary(name: "CNats", path: "Shared/CNats", pkgConfig: "libnats", providers: [.apt(["libnats-dev"])]),
        .target(name: "Wire", path: "Shared/Wire", swiftSettings: swiftSettings),
        .target(
            name: "Bus",
            dependencies: [
                "CNats",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Shared/Bus",
            swiftSettings: swiftSettings
        ),
        .target(name: "Messages", dependencies: ["Wire"], path: "Shared/Messages", swiftSettings: swiftSettings),
        .target(
            name: "ServiceKit",
            dependencies: [
                "Bus", "Wire", "Messages",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            path: "Shared/ServiceKit",
            swiftSettings: swiftSettings
        ),

        // MARK: Services
        .executableTarget(name: "RefData", dependencies: serviceDependencies, path: "Services/RefData", swiftSettings: swiftSettings),
        .executableTarget(
            name: "DealStatus",
            dependencies: serviceDependencies + [
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),  // the projection's upsert binds its values itself
            ],
            path: "Services/DealStatus",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "Netting",
            dependencies: serviceDependencies + [.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            path: "Services/Netting",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "Simulator",
            dependencies: serviceDependencies + [.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            path: "Services/Simulator",
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "Terminal", dependencies: serviceDependencies, path: "Services/Terminal", swiftSettings: swiftSettings),

        // MARK: Tools, tests and benchmarks
        .executableTarget(name: "WireVectors", dependencies: ["Wire", "Messages"], path: "Tests/WireVectors", swiftSettings: swiftSettings),
        .executableTarget(
            name: "SvyazBench",
            dependencies: [
                "Bus", "Wire", "Messages", "CNats", "TestSupport",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks",
            swiftSettings: swiftSettings
        ),
        .target(name: "TestSupport", dependencies: ["Bus"], path: "Tests/TestSupport", swiftSettings: swiftSettings),
        .testTarget(name: "WireTests", dependencies: ["Wire", "TestSupport"], path: "Tests/WireTests", swiftSettings: swiftSettings),
        .testTarget(name: "MessagesTests", dependencies: ["Messages", "Wire", "TestSupport"], path: "Tests/MessagesTests", swiftSettings: swiftSettings),
        .testTarget(name: "BusTests", dependencies: ["Bus", "TestSupport", "CNats"], path: "Tests/BusTests", swiftSettings: swiftSettings),
        .testTarget(
            name: "DealStatusTests",
            dependencies: serviceDependencies + ["DealStatus", "Simulator", "TestSupport"],
            path: "Tests/DealStatusTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NettingTests",
            dependencies: serviceDependencies + ["Netting", "DealStatus", "TestSupport"],
            path: "Tests/NettingTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ServiceKitTests",
            dependencies: serviceDependencies + [
                "TestSupport", "RefData",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Tests/ServiceKitTests",
            swiftSettings: swiftSettings
        ),
    ]
)
