import Foundation
import Fuzzing

// libFuzzer's entry (built with -sanitize=fuzzer,address -DFUZZING: see Makefile's fuzz). Without
// FUZZING the same binary replays the files it is given.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    SIPHarness.run(size == 0 || data == nil ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ one: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt
#endif

@main struct FuzzSIP {
    static func main() {
        #if FUZZING
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(runDriver(&argc, &argv, { fuzzOne($0, $1) }))
        #else
        exit(Replay.files(Array(CommandLine.arguments.dropFirst()), through: SIPHarness.run))
        #endif
    }
}
