// XCTest: load the exported rawpipe .mlpackage (compiled by Xcode into the test bundle), run every
// packaged tile through Core ML, apply the host post-step (HostSteps.swift) and assert the parity
// threshold of the manifest (PSNR after white balance and the sRGB curve vs ONNX Runtime fp32,
// per noise level). Also reports the median prediction latency.
//
// The test bundle must contain the folder made by `export/device/ios/package.py` (a folder
// reference named `device-ios`) and the .mlpackage (added to the test target, so Xcode compiles it).
import CoreML
import XCTest

final class RawpipeParityTests: XCTestCase {
    func packageURL() throws -> URL {
        let bundle = Bundle(for: RawpipeParityTests.self)
        guard let url = bundle.url(forResource: "device-ios", withExtension: nil) else {
            throw XCTSkip("the device-ios package folder is not in the test bundle (see README.md)")
        }
        return url
    }

    func testParityAgainstOnnxRuntime() throws {
        let dir = try packageURL()
        let pkg = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("package.json"))) as! [String: Any]
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("manifest.json"))) as! [String: Any]
        let host = manifest["host"] as! [String: Any]
        let vst = host["vst"] as! [String: Any]
        let inv = host["inverse_vst"] as! [String: Any]
        let tableArr = try NpyArray(url: dir.appendingPathComponent(inv["table"] as! String))
        let table = InverseVSTTable(inv: tableArr.data, ni: tableArr.shape[0], nj: tableArr.shape[1],
                                    dLo: Float(inv["d_lo"] as! Double), hd: Float(inv["hd"] as! Double),
                                    hr: Float(inv["hr"] as! Double), s0: Float(inv["s0"] as! Double))
        let shotFloor = Float(vst["shot_floor"] as! Double)
        let threshold = pkg["psnr_min_db"] as! Double
        let modelName = ((pkg["model"] as! String) as NSString).deletingPathExtension
        guard let compiled = Bundle(for: RawpipeParityTests.self).url(forResource: modelName, withExtension: "mlmodelc") else {
            XCTFail("\(modelName).mlmodelc is not in the test bundle"); return
        }
        var sse = [String: Double](), count = [String: Int](), latencies = [Double]()
        var models = [String: MLModel]()
        for case let tile as [String: Any] in pkg["tiles"] as! [Any] {
            let stem = tile["stem"] as! String, function = tile["graph"] as! String
            if models[function] == nil {
                let cfg = MLModelConfiguration()
                cfg.computeUnits = .all
                cfg.functionName = function  // multifunction package: one function per noise bucket (iOS 18)
                models[function] = try MLModel(contentsOf: compiled, configuration: cfg)
            }
            let x = try NpyArray(url: dir.appendingPathComponent("\(stem).in.npy"))
            let input = try MLMultiArray(shape: x.shape.map { NSNumber(value: $0) }, dataType: .float32)
            x.data.withUnsafeBufferPointer { src in
                input.dataPointer.assumingMemoryBound(to: Float.self).update(from: src.baseAddress!, count: x.data.count)
            }
            let provider = try MLDictionaryFeatureProvider(dictionary: [tile["input_name"] as! String: input])
            let t0 = Date()
            let result = try models[function]!.prediction(from: provider)
            latencies.append(Date().timeIntervalSince(t0) * 1000)
            let out = result.featureValue(for: tile["output_name"] as! String)!.multiArrayValue!
            let n = out.count
            var y = [Float](repeating: 0, count: n)
            for i in 0..<n { y[i] = out[i].floatValue }
            let h = x.shape[2], w = x.shape[3]
            let rgb = HostSteps.postprocess(y, h: h, w: w, shot: (tile["shot"] as! [Double]).map { Float($0) },
                                            read: (tile["read"] as! [Double]).map { Float($0) },
                                            shotFloor: shotFloor, table: table)
            let ref = try NpyArray(url: dir.appendingPathComponent("\(stem).ref.npy"))
            let (e, c) = HostSteps.squaredError(ref.data, rgb, wb: (tile["wb"] as! [Double]).map { Float($0) },
                                                plane: 4 * h * w)
            let level = tile["level"] as! String
            sse[level, default: 0] += e
            count[level, default: 0] += c
        }
        for (level, e) in sse.sorted(by: { $0.key < $1.key }) {
            let psnr = 10 * log10(1 / (e / Double(count[level]!)))
            print("rawpipe parity \(level): \(String(format: "%.2f", psnr)) dB")
            XCTAssertGreaterThanOrEqual(psnr, threshold, "level \(level)")
        }
        latencies.sort()
        print("rawpipe latency median \(String(format: "%.1f", latencies[latencies.count / 2])) ms/tile")
    }
}
