/**
 * The Dockerfile cannot be built here, so its contract is checked instead: every path it copies exists, the build
 * config compiles src/ only, the entry point it runs is produced by that build, and it runs as a non-root user.
 */
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { projectRoot } from './helpers/paths.js'

const dockerfile = readFileSync(join(projectRoot, 'Dockerfile'), 'utf8')
const lines = dockerfile.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))

t.test('COPY sources exist in the build context', async (t) => {
  const ignored = readFileSync(join(projectRoot, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean)
  for (const line of lines.filter((l) => l.startsWith('COPY ') && !l.includes('--from='))) {
    const parts = line.split(/\s+/).slice(1)
    for (const src of parts.slice(0, -1)) {
      t.ok(existsSync(join(projectRoot, src)), `${src} exists`)
      t.notOk(ignored.includes(src), `${src} is not excluded by .dockerignore`)
    }
  }
})

t.test('the image runs the compiled entry point, as a non-root user, from a production install', async (t) => {
  const build = JSON.parse(readFileSync(join(projectRoot, 'tsconfig.build.json'), 'utf8')) as { include: string[] }
  t.same(build.include, ['src/**/*.ts'], 'only src/ is compiled into the image')
  t.ok(existsSync(join(projectRoot, 'src', 'bin.ts')), 'the entry point source exists')
  t.match(dockerfile, /ENTRYPOINT \["node", "dist\/src\/bin\.js"\]/)
  t.match(dockerfile, /RUN npm ci --omit=dev/)
  t.match(dockerfile, /^USER node$/m)
  t.match(dockerfile, /^FROM node:24-slim/m)
  t.match(dockerfile, /^EXPOSE 8443 8080$/m)
  t.match(dockerfile, /^HEALTHCHECK [^\n]*\n\s*CMD .*127\.0\.0\.1:9901\/healthz/m, 'the health check probes the admin /healthz')
  const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { bin: Record<string, string> }
  t.equal(pkg.bin['rampart'], 'dist/src/bin.js', 'the npm bin and the image run the same file')
})
