/** Path normalisation and request matchers. Pure; tables with negative cases. */
import t from 'tap'
import { normalizePath, compileMatch } from '../../src/limits/match.js'

t.test('normalizePath: every spelling of /login is /login', async (t) => {
  const table: Array<[string, string]> = [
    ['/login', '/login'],
    ['/Login', '/login'],
    ['/login/', '/login'],
    ['//login', '/login'],
    ['/./login', '/login'],
    ['/x/../login', '/login'],
    ['/../../login', '/login'],
    ['/%6Cogin', '/login'],
    ['/%6c%6F%67%69%6E', '/login'],
    ['/%2e%2e/login', '/login'],
    ['/login?next=/admin', '/login'],
    ['/login#frag', '/login'],
    ['/login;jsessionid=abc', '/login'],
    ['/', '/'],
    ['', '/'],
    ['/a%2Fb', '/a%2fb'], // an encoded slash is data, not a separator
    ['/a%20b', '/a%20b'], // only unreserved characters are decoded
    ['/login.php/extra', '/login.php/extra'],
  ]
  for (const [raw, want] of table) t.equal(normalizePath(raw), want, JSON.stringify(raw))
})

t.test('compileMatch', async (t) => {
  const table: Array<[string, Parameters<typeof compileMatch>[0], [string | undefined, string, string], boolean]> = [
    ['empty matches everything', {}, [undefined, 'GET', '/anything'], true],
    ['site', { site: 'club' }, ['club', 'GET', '/'], true],
    ['other site', { site: 'club' }, ['resa', 'GET', '/'], false],
    ['no site resolved', { site: 'club' }, [undefined, 'GET', '/'], false],
    ['method', { method: 'POST' }, [undefined, 'POST', '/'], true],
    ['method written in lower case', { method: 'post' }, [undefined, 'POST', '/'], true],
    ['other method', { method: 'POST' }, [undefined, 'GET', '/'], false],
    ['method list', { method: ['PUT', 'PATCH'] }, [undefined, 'PATCH', '/'], true],
    ['exact path', { path: '/login' }, [undefined, 'POST', '/login'], true],
    ['exact path written with a trailing slash', { path: '/Login/' }, [undefined, 'POST', '/login'], true],
    ['exact path: longer path', { path: '/login' }, [undefined, 'POST', '/login/x'], false],
    ['prefix: itself', { pathPrefix: '/api' }, [undefined, 'GET', '/api'], true],
    ['prefix: below', { pathPrefix: '/api' }, [undefined, 'GET', '/api/v1/x'], true],
    ['prefix: not a segment boundary', { pathPrefix: '/api' }, [undefined, 'GET', '/apix'], false],
    ['prefix /', { pathPrefix: '/' }, [undefined, 'GET', '/x'], true],
    ['all together', { site: 'club', method: 'POST', path: '/password-reset' }, ['club', 'POST', '/password-reset'], true],
    ['all together, wrong method', { site: 'club', method: 'POST', path: '/password-reset' }, ['club', 'GET', '/password-reset'], false],
  ]
  for (const [name, spec, [site, method, path], want] of table) {
    t.equal(compileMatch(spec)(site, method, normalizePath(path)), want, name)
  }
})
