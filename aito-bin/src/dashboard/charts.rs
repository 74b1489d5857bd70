//! Pictures drawn on the server as inline SVG, with no script and no build step: stacked bars
//! of money spent per agent ([`spend_bars`]) and the company's message flow ([`flow`]). Every
//! label goes through `maud`, so names and numbers are escaped like the rest of the page.

use maud::{Markup, html};

/// The colour of the `index`-th series (agents in directory order), readable on light and
/// dark backgrounds.
pub(crate) fn colour(index: usize) -> &'static str {
    const COLOURS: [&str; 8] = [
        "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f",
    ];
    COLOURS[index % COLOURS.len()]
}

/// One series of a bar chart: a name and a value per bucket.
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) values: Vec<f64>,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 12.0;

/// Stacked bars: one bar per bucket (`labels`), one colour per series, a dollar axis and a
/// legend. `id` names the chart for tests and the page's anchors.
pub(crate) fn spend_bars(id: &str, title: &str, labels: &[String], series: &[Series]) -> Markup {
    let buckets = labels.len().max(1);
    let totals: Vec<f64> = (0..buckets)
        .map(|bucket| {
            series
                .iter()
                .map(|one| one.values.get(bucket).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let peak = totals.iter().copied().fold(0.0_f64, f64::max);
    let scale_top = nice_top(peak);
    let plot_height = HEIGHT - TOP - BOTTOM;
    let slot = (WIDTH - LEFT - 8.0) / buckets as f64;
    let bar = (slot * 0.7).max(2.0);
    let y = |usd: f64| TOP + plot_height - usd / scale_top * plot_height;
    let every = if buckets > 12 { 3 } else { 1 };
    html! {
        figure.chart id=(id) {
            figcaption { (title) }
            svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT + 4.0) } role="img" aria-label=(title) xmlns="http://www.w3.org/2000/svg" {
                @for step in 0..=4 {
                    @let usd = scale_top * f64::from(step) / 4.0;
                    line.grid x1=(LEFT) x2=(WIDTH - 4.0) y1=(fmt(y(usd))) y2=(fmt(y(usd))) {}
                    text.axis x=(LEFT - 6.0) y=(fmt(y(usd) + 4.0)) text-anchor="end" { (money_label(usd)) }
                }
                @for (bucket, label) in labels.iter().enumerate() {
                    @let x = LEFT + slot * bucket as f64 + (slot - bar) / 2.0;
                    @for (index, name, below, usd) in stack(series, bucket) {
                        rect.bar x=(fmt(x)) y=(fmt(y(below + usd))) width=(fmt(bar)) height=(fmt(usd / scale_top * plot_height)) fill=(colour(index)) data-series=(name) data-bucket=(label) data-usd=(format!("{usd:.4}")) {
                            title { (name) ", " (label) ": " (money_label(usd)) }
                        }
                    }
                    @if bucket % every == 0 {
                        text.axis x=(fmt(x + bar / 2.0)) y=(HEIGHT - BOTTOM + 16.0) text-anchor="middle" { (label) }
                    }
                }
            }
            ul.legend {
                @for (index, one) in series.iter().enumerate() {
                    li { span class={ "swatch c" (index % 8) } {} (one.name) " " span.muted { (money_label(one.values.iter().sum())) } }
                }
            }
        }
    }
}

/// The pieces of one bar, bottom up: each series that spent something in `bucket`, with its
/// colour index, its name, what the pieces below it add up to, and its own amount.
fn stack(series: &[Series], bucket: usize) -> Vec<(usize, &str, f64, f64)> {
    let mut below = 0.0;
    let mut pieces = Vec::new();
    for (index, one) in series.iter().enumerate() {
        let usd = one.values.get(bucket).copied().unwrap_or(0.0);
        if usd > 0.0 {
            pieces.push((index, one.name.as_str(), below, usd));
            below += usd;
        }
    }
    pieces
}

/// One arrow of the flow picture: `messages` messages from `from` woke `to`.
pub(crate) struct Edge {
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) messages: usize,
}

/// The message flow: every sender and receiver on a circle, an arrow from each sender to each
/// agent its messages woke, as thick as the count, labelled with it.
pub(crate) fn flow(id: &str, nodes: &[String], edges: &[Edge]) -> Markup {
    let (cx, cy, radius) = (360.0, 210.0, 160.0);
    let count = nodes.len().max(1) as f64;
    let at = |name: &str| -> (f64, f64) {
        let index = nodes.iter().position(|node| node == name).unwrap_or(0) as f64;
        let angle = std::f64::consts::TAU * index / count - std::f64::consts::FRAC_PI_2;
        (cx + radius * angle.cos(), cy + radius * angle.sin())
    };
    let most = edges
        .iter()
        .map(|edge| edge.messages)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    html! {
        figure.chart id=(id) {
            figcaption { "Who woke whom, and how often" }
            svg viewBox="0 0 720 420" role="img" aria-label="Message flow between the agents" xmlns="http://www.w3.org/2000/svg" {
                defs {
                    marker id={ (id) "-arrow" } viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse" {
                        path d="M 0 0 L 10 5 L 0 10 z" fill="currentColor" {}
                    }
                }
                @for edge in edges {
                    @let (x1, y1) = at(&edge.from);
                    @let (x2, y2) = at(&edge.to);
                    @let (dx, dy) = (x2 - x1, y2 - y1);
                    @let length = (dx * dx + dy * dy).sqrt().max(1.0);
                    // Stop short of the circles; bend a little so that A→B and B→A part.
                    @let (sx, sy) = (x1 + dx / length * 26.0, y1 + dy / length * 26.0);
                    @let (ex, ey) = (x2 - dx / length * 28.0, y2 - dy / length * 28.0);
                    @let (mx, my) = ((sx + ex) / 2.0 - dy / length * 18.0, (sy + ey) / 2.0 + dx / length * 18.0);
                    g.edge data-from=(edge.from) data-to=(edge.to) data-messages=(edge.messages) {
                        path d={ "M " (fmt(sx)) " " (fmt(sy)) " Q " (fmt(mx)) " " (fmt(my)) " " (fmt(ex)) " " (fmt(ey)) } fill="none" stroke="currentColor" stroke-opacity="0.55" stroke-width=(fmt(1.0 + 5.0 * edge.messages as f64 / most)) marker-end={ "url(#" (id) "-arrow)" } {
                            title { (edge.from) " → " (edge.to) ": " (edge.messages) @if edge.messages == 1 { " message" } @else { " messages" } }
                        }
                        text.count x=(fmt(mx)) y=(fmt(my)) text-anchor="middle" { (edge.messages) }
                    }
                }
                @for (index, node) in nodes.iter().enumerate() {
                    @let (x, y) = at(node);
                    g.node data-node=(node) {
                        circle cx=(fmt(x)) cy=(fmt(y)) r="24" fill=(colour(index)) {}
                        text x=(fmt(x)) y=(fmt(y + 4.0)) text-anchor="middle" { (node) }
                    }
                }
            }
        }
    }
}

/// A round top for the dollar axis at or above `peak`.
fn nice_top(peak: f64) -> f64 {
    if peak <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(peak.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|step| step * magnitude)
        .find(|top| *top >= peak)
        .unwrap_or(10.0 * magnitude)
}

fn money_label(usd: f64) -> String {
    if usd >= 10.0 {
        format!("${usd:.0}")
    } else if usd >= 0.1 || usd == 0.0 {
        format!("${usd:.2}")
    } else {
        format!("${usd:.3}")
    }
}

fn fmt(value: f64) -> String {
    format!("{value:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_stack_each_agents_spend_and_scale_to_a_round_top() {
        let labels: Vec<String> = ["00", "01"].map(String::from).to_vec();
        let series = [
            Series {
                name: "ceo".into(),
                values: vec![0.5, 0.0],
            },
            Series {
                name: "<cto>".into(),
                values: vec![1.0, 0.25],
            },
        ];
        let svg = spend_bars("today", "Spend today", &labels, &series).into_string();
        assert_eq!(svg.matches("<rect").count(), 3, "no bar for nothing spent");
        assert!(
            svg.contains(r#"data-series="&lt;cto&gt;""#),
            "names are escaped"
        );
        assert!(
            svg.contains(">$2.00<"),
            "the axis tops at a round $2: {svg}"
        );
        assert_eq!(nice_top(0.03), 0.05);
        assert_eq!(nice_top(7.0), 10.0);
    }

    #[test]
    fn the_flow_draws_one_arrow_per_pair_with_its_count() {
        let nodes: Vec<String> = ["human", "ceo", "cto"].map(String::from).to_vec();
        let edges = [
            Edge {
                from: "human".into(),
                to: "ceo".into(),
                messages: 1,
            },
            Edge {
                from: "ceo".into(),
                to: "cto".into(),
                messages: 4,
            },
        ];
        let svg = flow("flow", &nodes, &edges).into_string();
        assert_eq!(svg.matches("<g class=\"edge\"").count(), 2);
        assert!(svg.contains(r#"data-from="ceo" data-to="cto" data-messages="4""#));
        assert_eq!(svg.matches("<circle").count(), 3);
    }
}
