/** Reading callgrind's dump files (the instruction-count bench). Pure: the texts are what callgrind 3.19 writes. */
import t from 'tap'
import { dumpLabel, dumpTotal } from '../../bench/lib/callgrind.js'

const dump = (trigger: string, totals: string): string => `# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 5645
cmd:  nginx -p /x/ -c /x/nginx.conf
part: 2

desc: I1 cache: 
desc: Timerange: Basic block 39210328 - 53804700
desc: Trigger: ${trigger}

positions: line
events: Ir
summary: 76701696

ob=(1) /usr/sbin/nginx
fn=(1) ngx_http_process_request
0 1234
${totals}`

t.test('the label of a dump is its trigger, as requested with --dump=<label>', async (t) => {
  t.equal(dumpLabel(dump('Client Request: nginx-round-3', 'totals: 76701735\n')), 'Client Request: nginx-round-3')
  t.equal(dumpLabel('# callgrind format\nversion: 1\n'), undefined, 'no trigger line: no label')
})

t.test('the total is the totals line, or the summary when a dump has none', async (t) => {
  t.equal(dumpTotal(dump('dump', 'totals: 76701735\n')), 76701735)
  t.equal(dumpTotal(dump('dump', '')), 76701696, 'falls back to summary')
  t.equal(dumpTotal('# callgrind format\n'), undefined, 'neither: undefined, so the caller can say the dump is broken')
})

t.test('a label that is a prefix of another does not match it (round-1 against round-10)', async (t) => {
  const label = dumpLabel(dump('Client Request: rampart-off-round-10', 'totals: 1\n'))!
  t.notOk(label.endsWith('rampart-off-round-1'), 'round 1 must not pick up round 10\'s dump')
  t.ok(label.endsWith('rampart-off-round-10'))
})
