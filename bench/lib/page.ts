/**
 * The page every benchmark upstream serves: about 2 KB of HTML shaped like a legacy booking page.
 *
 * Contract: `buildBenchPage()` is deterministic, so every run and every target serves byte-identical content, and it
 * contains `BENCH_PAGE_MARKER`, which the run looks for to confirm a target really delivered the upstream's page.
 */
export const BENCH_PAGE_MARKER = 'rampart-bench-page'

export function buildBenchPage(): string {
  const rows: string[] = []
  for (let i = 1; i <= 14; i++) {
    rows.push(`<tr><td>Court ${i}</td><td>${8 + (i % 12)}:00</td><td><a href="/book?court=${i}">Book</a></td></tr>`)
  }
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Court bookings</title><!-- ${BENCH_PAGE_MARKER} -->
<link rel="stylesheet" href="/css/site.css"><script src="/js/app.js"></script></head>
<body>
<header><h1>Club bookings</h1><nav><a href="/">Home</a> <a href="/login">Log in</a> <a href="/contact">Contact</a></nav></header>
<main>
<p>Free slots today. Members book online; guests call the club house. Courts are released 48 hours ahead, lights
are on until 22:00, and cancellations are free up to 24 hours before play.</p>
<table><thead><tr><th>Court</th><th>Free from</th><th></th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table>
</main>
<aside><h2>Club news</h2><p>The winter league starts next month: sign-up sheets are at the club house and in your
account. Junior lessons resume on Wednesday afternoons.</p></aside>
<footer>Club house open 8:00-22:00. <a href="/legal">Legal notice</a> · <a href="/privacy">Privacy</a></footer>
</body>
</html>
`
}
