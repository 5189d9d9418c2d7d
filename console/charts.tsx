/**
 * @module console/charts
 * Charts drawn on the server as SVG: no script and nothing to download. Each series is one
 * `<path data-series="name">`, so a page (and its test) can tell what is drawn.
 */
import type { FC } from 'hono/jsx'

export interface Series {
  name: string
  points: Array<{ x: number; y: number }>
}

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2))

/** Horizontal grid lines with their values on the left. */
const YGrid: FC<{ ticks: number[]; sy: (y: number) => number; left: number; right: number }> = ({
  ticks,
  sy,
  left,
  right,
}) => (
  <>
    {ticks.map((t) => (
      <g>
        <line class="grid" x1={left} x2={right} y1={sy(t)} y2={sy(t)} />
        <text class="tick" x={left - 6} y={sy(t) + 4} text-anchor="end">
          {fmt(t)}
        </text>
      </g>
    ))}
  </>
)

/** Which colour is which series (the same classes as the marks). */
const Legend: FC<{ names: string[] }> = ({ names }) => (
  <figcaption>
    {names.map((name, i) => (
      <span class={`key series-${i}`}>{name}</span>
    ))}
  </figcaption>
)

/** Lines over a shared x axis (e.g. time); y within `yDomain` (default: the data's range). */
export const LineChart: FC<{
  title: string
  series: Series[]
  yDomain?: [number, number]
  xFormat?: (x: number) => string
  width?: number
  height?: number
}> = ({ title, series, yDomain, xFormat = (x) => String(x), width = 560, height = 200 }) => {
  const pad = { left: 44, right: 12, top: 12, bottom: 28 }
  const all = series.flatMap((s) => s.points)
  if (all.length === 0) return <p class="empty">{title}: no data yet.</p>
  const xs = all.map((p) => p.x)
  const ys = all.map((p) => p.y)
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)]
  const [y0, y1] = yDomain ?? [Math.min(...ys), Math.max(...ys)]
  const sx = (x: number) => pad.left + ((x - x0) / (x1 - x0 || 1)) * (width - pad.left - pad.right)
  const sy = (y: number) => height - pad.bottom - ((y - y0) / (y1 - y0 || 1)) * (height - pad.top - pad.bottom)
  const ticks = [y0, (y0 + y1) / 2, y1]
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={title} width="100%">
        <title>{title}</title>
        <YGrid ticks={ticks} sy={sy} left={pad.left} right={width - pad.right} />
        <text class="tick" x={pad.left} y={height - 8}>
          {xFormat(x0)}
        </text>
        <text class="tick" x={width - pad.right} y={height - 8} text-anchor="end">
          {xFormat(x1)}
        </text>
        {series.map((s, i) => (
          <path
            data-series={s.name}
            class={`series series-${i}`}
            fill="none"
            d={s.points.map((p, j) => `${j === 0 ? 'M' : 'L'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')}
          />
        ))}
      </svg>
      <Legend names={series.map((s) => s.name)} />
    </figure>
  )
}

/**
 * An effect with its always-valid interval, against zero and the non-inferiority margin: the band
 * is what the data allow at any time the canary is looked at.
 */
export const IntervalChart: FC<{
  title: string
  estimate: number | null
  lower: number
  upper: number
  margin: number
  width?: number
}> = ({ title, estimate, lower, upper, margin, width = 560 }) => {
  const height = 70
  const lo = Math.max(-1, Math.min(lower, -margin * 2, -0.1))
  const hi = Math.min(1, Math.max(upper, 0.1))
  const sx = (v: number) => 20 + ((Math.max(lo, Math.min(hi, v)) - lo) / (hi - lo || 1)) * (width - 40)
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={title} width="100%">
        <title>{title}</title>
        <rect data-series="interval" class="band" x={sx(lower)} y={22} width={sx(upper) - sx(lower)} height={16} />
        {estimate !== null && (
          <line data-series="estimate" class="estimate" x1={sx(estimate)} x2={sx(estimate)} y1={16} y2={44} />
        )}
        <line class="zero" x1={sx(0)} x2={sx(0)} y1={8} y2={52} />
        <line class="margin" x1={sx(-margin)} x2={sx(-margin)} y1={8} y2={52} />
        <text class="tick" x={sx(0)} y={64} text-anchor="middle">
          0
        </text>
        <text class="tick" x={sx(-margin)} y={64} text-anchor="end">
          −{fmt(margin)} margin
        </text>
        <text class="tick" x={sx(lower)} y={14} text-anchor="middle">
          {fmt(lower)}
        </text>
        <text class="tick" x={sx(upper)} y={14} text-anchor="middle">
          {fmt(upper)}
        </text>
      </svg>
    </figure>
  )
}

/** An e-value against its threshold, on a log scale (1 = no evidence, the threshold = decide). */
export const EValueBar: FC<{ value: number; threshold: number }> = ({ value, threshold }) => {
  const top = Math.log10(Math.max(threshold * 10, value, 10))
  const w = (v: number) => `${((Math.log10(Math.max(1, v)) / top) * 100).toFixed(1)}%`
  return (
    <svg class="ebar" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" aria-label={`e-value ${fmt(value)}`}>
      <rect class="ebar-value" x="0" y="2" width={w(value)} height="6" />
      <line class="ebar-threshold" x1={w(threshold)} x2={w(threshold)} y1="0" y2="10" />
    </svg>
  )
}

/** Points on two axes, one `<g data-series>` of circles per series; each point says what it is. */
export const ScatterChart: FC<{
  title: string
  xLabel: string
  yLabel: string
  series: Array<{ name: string; points: Array<{ x: number; y: number; label: string }> }>
  width?: number
  height?: number
}> = ({ title, xLabel, yLabel, series, width = 560, height = 260 }) => {
  const pad = { left: 48, right: 12, top: 12, bottom: 36 }
  const all = series.flatMap((s) => s.points)
  if (all.length === 0) return <p class="empty">{title}: no data yet.</p>
  const xs = all.map((p) => p.x)
  const ys = all.map((p) => p.y)
  const [x0, x1] = [Math.min(...xs) * 0.95, Math.max(...xs) * 1.05]
  const [y0, y1] = [Math.min(0, ...ys), Math.max(1, ...ys)]
  const sx = (x: number) => pad.left + ((x - x0) / (x1 - x0 || 1)) * (width - pad.left - pad.right)
  const sy = (y: number) => height - pad.bottom - ((y - y0) / (y1 - y0 || 1)) * (height - pad.top - pad.bottom)
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={title} width="100%">
        <title>{title}</title>
        <YGrid ticks={[y0, (y0 + y1) / 2, y1]} sy={sy} left={pad.left} right={width - pad.right} />
        <text class="tick" x={pad.left} y={height - 18}>
          {fmt(x0)}
        </text>
        <text class="tick" x={width - pad.right} y={height - 18} text-anchor="end">
          {fmt(x1)}
        </text>
        <text class="tick" x={(width + pad.left) / 2} y={height - 4} text-anchor="middle">
          {xLabel}
        </text>
        <text
          class="tick"
          transform={`translate(12 ${((height - pad.bottom + pad.top) / 2).toFixed(1)}) rotate(-90)`}
          text-anchor="middle"
        >
          {yLabel}
        </text>
        {series.map((s, i) => (
          <g data-series={s.name} class={`points series-${i}`}>
            {s.points.map((p) => (
              <circle cx={sx(p.x).toFixed(1)} cy={sy(p.y).toFixed(1)} r="4">
                <title>{p.label}</title>
              </circle>
            ))}
          </g>
        ))}
      </svg>
      <Legend names={series.map((s) => s.name)} />
    </figure>
  )
}

/**
 * The always-valid interval over time: the band between its lower and upper bounds at each look,
 * the estimate, zero and the non-inferiority margin.
 */
export const BandChart: FC<{
  title: string
  points: Array<{ at: number; estimate: number | null; lower: number; upper: number }>
  margin: number
  xFormat: (x: number) => string
  width?: number
  height?: number
}> = ({ title, points, margin, xFormat, width = 560, height = 200 }) => {
  if (points.length === 0) return <p class="empty">{title}: no paired requests yet.</p>
  const pad = { left: 44, right: 12, top: 12, bottom: 28 }
  const [x0, x1] = [points[0]!.at, points.at(-1)!.at]
  const lo = Math.max(-1, Math.min(-margin * 2, ...points.map((p) => p.lower)))
  const hi = Math.min(1, Math.max(0.1, ...points.map((p) => p.upper)))
  const sx = (x: number) => pad.left + ((x - x0) / (x1 - x0 || 1)) * (width - pad.left - pad.right)
  const sy = (y: number) => height - pad.bottom - ((y - lo) / (hi - lo || 1)) * (height - pad.top - pad.bottom)
  const upper = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${sx(p.at).toFixed(1)},${sy(p.upper).toFixed(1)}`)
  const lower = [...points].reverse().map((p) => `L${sx(p.at).toFixed(1)},${sy(p.lower).toFixed(1)}`)
  const est = points.filter((p) => p.estimate !== null)
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={title} width="100%">
        <title>{title}</title>
        <path data-series="interval" class="band" d={`${upper.join(' ')} ${lower.join(' ')} Z`} />
        <path
          data-series="estimate"
          class="estimate"
          fill="none"
          d={est
            .map((p, i) => `${i === 0 ? 'M' : 'L'}${sx(p.at).toFixed(1)},${sy(p.estimate as number).toFixed(1)}`)
            .join(' ')}
        />
        <line class="zero" x1={pad.left} x2={width - pad.right} y1={sy(0)} y2={sy(0)} />
        <line class="margin" x1={pad.left} x2={width - pad.right} y1={sy(-margin)} y2={sy(-margin)} />
        <text class="tick" x={pad.left - 6} y={sy(0) + 4} text-anchor="end">
          0
        </text>
        <text class="tick" x={pad.left - 6} y={sy(-margin) + 4} text-anchor="end">
          −{fmt(margin)}
        </text>
        <text class="tick" x={pad.left} y={height - 8}>
          {xFormat(x0)}
        </text>
        <text class="tick" x={width - pad.right} y={height - 8} text-anchor="end">
          {xFormat(x1)}
        </text>
      </svg>
    </figure>
  )
}
