import Foundation

/// Converts audio between sample rates with a windowed-sinc low-pass (Kaiser window), the way
/// prompts recorded at 16, 44.1 or 48 kHz become the call's 8 kHz. It runs once per prompt at
/// load time, so it favours quality over speed: the Kaiser filter's transition band runs from 85 %
/// to 100 % of the lower rate's Nyquist frequency (3.4 to 4 kHz for 8 kHz, the telephone band's
/// edge), and what would alias is stopped by about 80 dB.
///
/// The filter is precomputed for each of the L output phases (L = outRate / gcd), which is small
/// for the rates audio files use (44.1 → 8 kHz: 80 phases).
public enum SampleRateConverter {
    /// Zero crossings of the sinc on each side: the filter's length, and so its sharpness. For a
    /// Kaiser window of β = 8 (about 80 dB) the transition width is about 0.157 × the cutoff at
    /// 32 crossings (Kaiser's formula N = (A − 7.95) / (14.36 Δf)), which fits the 15 % band.
    static let zeroCrossings = 32
    static let kaiserBeta = 8.0

    public static func convert(_ input: [Float], from inRate: Int, to outRate: Int) -> [Float] {
        precondition(inRate > 0 && outRate > 0)
        guard inRate != outRate, !input.isEmpty else { return input }
        let g = gcd(inRate, outRate)
        let up = outRate / g  // L: output phases
        let down = inRate / g  // M: input samples per L outputs
        // Cutoff in cycles per input sample: half the lower rate, less a transition band.
        let cutoff = 0.925 * 0.5 * Double(min(inRate, outRate)) / Double(inRate)
        let halfWidth = Double(zeroCrossings) / (2 * cutoff)  // in input samples
        let taps = Int(halfWidth.rounded(.up)) * 2 + 1
        let i0Beta = besselI0(kaiserBeta)

        // table[phase][j]: weight of input sample (base - taps/2 + j) for output phase `phase`,
        // where the output sits `phase / up` input samples after `base`.
        var table = [Float](repeating: 0, count: up * taps)
        for phase in 0..<up {
            let frac = Double(phase) / Double(up)
            var sum = 0.0
            for j in 0..<taps {
                let t = Double(j - taps / 2) - frac
                guard abs(t) <= halfWidth else { continue }
                let x = 2 * cutoff * t
                let sinc = x == 0 ? 1 : sin(Double.pi * x) / (Double.pi * x)
                let r = t / halfWidth
                let w = besselI0(kaiserBeta * (1 - r * r).squareRoot()) / i0Beta
                table[phase * taps + j] = Float(2 * cutoff * sinc * w)
                sum += 2 * cutoff * sinc * w
            }
            // Unity gain at DC for every phase, so a constant stays a constant.
            if sum != 0 { for j in 0..<taps { table[phase * taps + j] = Float(Double(table[phase * taps + j]) / sum) } }
        }

        let outCount = Int((Int64(input.count) * Int64(outRate) + Int64(inRate) - 1) / Int64(inRate))
        var output = [Float](repeating: 0, count: outCount)
        input.withUnsafeBufferPointer { x in
            table.withUnsafeBufferPointer { h in
                for n in 0..<outCount {
                    // Output n sits at input position n·M/L = base + phase/L.
                    let position = n * down
                    let base = position / up
                    let phase = position % up
                    var acc: Float = 0
                    let first = base - taps / 2
                    let row = phase * taps
                    for j in 0..<taps {
                        let k = first + j
                        if k >= 0 && k < x.count { acc += x[k] * h[row + j] }
                    }
                    output[n] = acc
                }
            }
        }
        return output
    }

    /// Modified Bessel function of the first kind, order 0 (power series; converges fast for
    /// the window's small arguments).
    static func besselI0(_ x: Double) -> Double {
        var sum = 1.0, term = 1.0
        let q = x * x / 4
        for k in 1..<64 {
            term *= q / Double(k * k)
            sum += term
            if term < sum * 1e-12 { break }
        }
        return sum
    }

    static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
}
