import Foundation

/// A percentile-spectrum plot as SVG: latency against percentile on a 1/(1-p) log axis, so 90%, 99%, 99.9% and
/// 99.99% get equal room and the tail is where the eye goes. Opens in any browser.
public struct SpectrumPlot {
    /// One curve.
    public struct Series {
        /// Legend text.
        public var label: String
        /// The histogram to draw.
        public var histogram: LatencyHistogram
        /// Stroke colour, e.g. "#d62728".
        public var color: String

        /// Creates a series.
        public init(label: String, histogram: LatencyHistogram, color: String) {
            self.label = label
            self.histogram = histogram
            self.color = color
        }
    }

    /// Title line.
    public var title: String
    /// The curves.
    public var series: [Series]

    /// Creates a plot.
    public init(title: String, series: [Series]) {
        self.title = title
        self.series = series
    }

    /// The SVG document.
    public func svg() -> String {
        let width = 900.0
        let height = 520.0
        let left = 80.0
        let right = 30.0
        let top = 50.0
        let bottom = 70.0
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        let maxCount = series.map(\.histogram.count).max() ?? 0
        // Decades of 1/(1-p) the data can support: with n values the tail is resolved to about 1/n.
        let decades = Swift.max(2, Int(log10(Double(Swift.max(maxCount, 1))).rounded(.up)))
        let maxNanoseconds = series.map(\.histogram.max).max() ?? 0
        let yMax = niceCeiling(Swift.max(Double(maxNanoseconds) / 1e6, 0.001))

        func x(_ percentile: Double) -> Double {
            let fraction = Swift.min(percentile / 100, 1 - pow(10, -Double(decades)))
            let position = log10(1 / (1 - fraction)) / Double(decades)
            return left + position * plotWidth
        }
        func y(_ milliseconds: Double) -> Double { top + plotHeight * (1 - milliseconds / yMax) }

        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(width / 2)" y="24" text-anchor="middle" font-size="15">\(escape(title))</text>

            """
        for tick in 0...decades {
            let percentile = 100 * (1 - pow(10, -Double(tick)))
            let px = left + Double(tick) / Double(decades) * plotWidth
            out += line(px, top, px, top + plotHeight, "#dddddd")
            let label = tick == 0 ? "0%" : trimmed(percentile) + "%"
            out += text(px, top + plotHeight + 18, label, anchor: "middle")
        }
        for step in 0...5 {
            let value = yMax * Double(step) / 5
            let py = y(value)
            out += line(left, py, left + plotWidth, py, "#dddddd")
            out += text(left - 8, py + 4, trimmed(value), anchor: "end")
        }
        out += line(left, top, left, top + plotHeight, "#333333")
        out += line(left, top + plotHeight, left + plotWidth, top + plotHeight, "#333333")
        out += text(left + plotWidth / 2, height - 20, "percentile (1/(1-p) log scale)", anchor: "middle")
        out +=
            "<text x=\"20\" y=\"\(top + plotHeight / 2)\" transform=\"rotate(-90 20 \(top + plotHeight / 2))\" "
            + "text-anchor=\"middle\">latency (ms)</text>\n"
        for (index, curve) in series.enumerated() where curve.histogram.count > 0 {
            let points = curve.histogram.spectrum(ticksPerHalfDistance: 10).map {
                String(format: "%.1f,%.1f", x($0.percentile), y(Double($0.nanoseconds) / 1e6))
            }
            out +=
                "<polyline fill=\"none\" stroke=\"\(curve.color)\" stroke-width=\"2\" points=\""
                + points.joined(separator: " ") + "\"/>\n"
            let legendY = top + 16 + Double(index) * 18
            out += line(left + 12, legendY - 4, left + 36, legendY - 4, curve.color, width: 3)
            let p99 = String(format: "%.3f", Double(curve.histogram.valueAtPercentile(99)) / 1e6)
            out += text(
                left + 42,
                legendY,
                "\(curve.label) (p99 \(p99) ms, n=\(curve.histogram.count))",
                anchor: "start"
            )
        }
        out += "</svg>\n"
        return out
    }

    private func line(
        _ x1: Double,
        _ y1: Double,
        _ x2: Double,
        _ y2: Double,
        _ color: String,
        width: Double = 1
    )
        -> String
    {
        String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" ", x1, y1, x2, y2)
            + "stroke=\"\(color)\" stroke-width=\"\(trimmed(width))\"/>\n"
    }

    private func text(_ x: Double, _ y: Double, _ content: String, anchor: String) -> String {
        String(format: "<text x=\"%.1f\" y=\"%.1f\" ", x, y) + "text-anchor=\"\(anchor)\">" + escape(content)
            + "</text>\n"
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    /// 1, 2 or 5 times a power of ten, at or above `value`.
    private func niceCeiling(_ value: Double) -> Double {
        let power = pow(10, log10(value).rounded(.down))
        for factor in [1.0, 2.0, 5.0, 10.0] where factor * power >= value { return factor * power }
        return 10 * power
    }
}
