// Host steps after the rawpipe Core ML graph, in Swift: the port of host_reference.py's
// post-processing (depth-to-space CRD, exact unbiased inverse VST by table lookup) plus the parity
// metric (white balance, clip, sRGB curve, PSNR). Mirrors rawpipe/export/host_reference.py.
import Foundation

/// A float32 little-endian C-order .npy array (the only kind the package contains).
struct NpyArray {
    let shape: [Int]
    let data: [Float]

    init(url: URL) throws {
        let bytes = try Data(contentsOf: url)
        guard bytes.count > 10, bytes[0] == 0x93, String(data: bytes[1..<6], encoding: .ascii) == "NUMPY" else {
            throw NSError(domain: "npy", code: 1, userInfo: [NSLocalizedDescriptionKey: "not an .npy file: \(url)"])
        }
        let major = bytes[6]
        let headerLen: Int
        let start: Int
        if major == 1 {
            headerLen = Int(bytes[8]) | (Int(bytes[9]) << 8)
            start = 10
        } else {
            headerLen = Int(bytes[8]) | (Int(bytes[9]) << 8) | (Int(bytes[10]) << 16) | (Int(bytes[11]) << 24)
            start = 12
        }
        let header = String(data: bytes[start..<(start + headerLen)], encoding: .ascii) ?? ""
        guard header.contains("'descr': '<f4'"), header.contains("'fortran_order': False") else {
            throw NSError(domain: "npy", code: 2, userInfo: [NSLocalizedDescriptionKey: "need <f4 C-order: \(header)"])
        }
        let shapeText = header.components(separatedBy: "'shape': (")[1].components(separatedBy: ")")[0]
        shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let count = shape.reduce(1, *)
        let offset = start + headerLen
        data = bytes[offset..<(offset + 4 * count)].withUnsafeBytes { raw in
            Array(raw.bindMemory(to: Float.self).prefix(count))
        }
    }
}

struct InverseVSTTable {
    let inv: [Float]
    let ni: Int
    let nj: Int
    let dLo: Float, hd: Float, hr: Float, s0: Float

    func lookup(_ fi: Float, _ fj: Float) -> Float {
        let i0 = min(max(fi.rounded(.down), 0), Float(ni - 2))
        let wi = fi - i0  // not clamped: linear continuation below/above the table
        let j0 = min(max(fj.rounded(.down), 0), Float(nj - 2))
        let wj = min(max(fj - j0, 0), 1)
        let base = Int(i0) * nj + Int(j0)
        let v00 = inv[base], v01 = inv[base + 1], v10 = inv[base + nj], v11 = inv[base + nj + 1]
        return (1 - wi) * ((1 - wj) * v00 + wj * v01) + wi * ((1 - wj) * v10 + wj * v11)
    }

    /// x = a * (A(D, s) + R(D - D_A, log1p(s/s0))) with s = sqrt(b)/a (Mäkitalo & Foi 2013).
    func inverse(_ d: Float, a: Float, b: Float) -> Float {
        let s = b.squareRoot() / a
        let da = 2 * (s * s + 0.125).squareRoot()
        let half = 0.5 * d
        let asym = d >= da ? (half - s) * (half + s) - 0.125 : (0.5 * da) * (d - da)
        let fi = (d - da - dLo) / hd
        let fj = log1p(s / s0) / hr
        return a * (asym + lookup(fi, fj))
    }
}

enum HostSteps {
    /// (12, h, w) VST output -> (3, 2h, 2w) linear camera RGB; a, b: 4 RGGB values (floored).
    static func postprocess(_ y: [Float], h: Int, w: Int, shot: [Float], read: [Float],
                            shotFloor: Float, table: InverseVSTTable) -> [Float] {
        let a4 = shot.map { max($0, shotFloor) }, b4 = read.map { max($0, 0) }
        let a3 = [a4[0], 0.5 * (a4[1] + a4[2]), a4[3]], b3 = [b4[0], 0.5 * (b4[1] + b4[2]), b4[3]]
        let H = 2 * h, W = 2 * w
        var out = [Float](repeating: 0, count: 3 * H * W)
        for c in 0..<3 {
            for dy in 0..<2 {
                for dx in 0..<2 {
                    let ch = 4 * c + 2 * dy + dx  // CRD
                    for i in 0..<h {
                        for j in 0..<w {
                            let d = y[(ch * h + i) * w + j]
                            out[(c * H + 2 * i + dy) * W + 2 * j + dx] = table.inverse(d, a: a3[c], b: b3[c])
                        }
                    }
                }
            }
        }
        return out
    }

    static func srgb(_ x: Double) -> Double {
        let y = min(max(x, 0), 1)
        return y <= 0.0031308 ? 12.92 * y : 1.055 * pow(y, 1 / 2.4) - 0.055
    }

    /// Sum of squared errors after white balance + sRGB curve, and the element count.
    static func squaredError(_ ref: [Float], _ test: [Float], wb: [Float], plane: Int) -> (Double, Int) {
        var sse = 0.0
        for i in 0..<ref.count {
            let g = Double(wb[i / plane])
            let e = srgb(Double(ref[i]) * g) - srgb(Double(test[i]) * g)
            sse += e * e
        }
        return (sse, ref.count)
    }
}
