import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { Link, Redirect, Route, Router, Switch } from 'wouter';
import { apiKey, onKeyChange, request, setApiKey } from './api';
import { ME } from './documents';
import { toApiError } from './hooks';
import { QueuesPage } from './pages/QueuesPage';
import { RunPage } from './pages/RunPage';
import { RunsPage } from './pages/RunsPage';
import { WorkflowPage, WorkflowsPage } from './pages/WorkflowsPage';
import './styles.css';

type Access = { state: 'checking' } | { state: 'in'; anonymous: boolean } | { state: 'out'; message: string | null };

/**
 * The conductor decides who is in: the console asks it with the key of this tab (none in
 * development mode, where requests without a key act as tenant "default").
 */
function useAccess(): [Access, () => void] {
  const [access, setAccess] = useState<Access>({ state: 'checking' });
  const [tick, setTick] = useState(0);
  useEffect(() => onKeyChange(() => setTick((t) => t + 1)), []);
  useEffect(() => {
    let live = true;
    request(ME).then(
      () => live && setAccess({ state: 'in', anonymous: !apiKey() }),
      (e: unknown) => {
        const err = toApiError(e);
        if (!live) return;
        if (err.code === 'UNAUTHENTICATED' || err.code === 'FORBIDDEN') setAccess({ state: 'out', message: apiKey() ? err.message : null });
        else setAccess({ state: 'out', message: err.message });
      },
    );
    return () => {
      live = false;
    };
  }, [tick]);
  return [access, () => setTick((t) => t + 1)];
}

function SignIn({ message }: { message: string | null }) {
  const [key, setKey] = useState('');
  return (
    <form
      className="signin"
      onSubmit={(e) => {
        e.preventDefault();
        setApiKey(key.trim());
      }}
    >
      <h1>Maestro Conductor</h1>
      <p>
        Sign in with an API key (mint one with <code>npm run apikey -- create --tenant &lt;t&gt;</code>). It is kept in this tab only.
      </p>
      <input aria-label="API key" type="password" autoComplete="off" autoFocus placeholder="API key" value={key} onChange={(e) => setKey(e.target.value)} />
      <button type="submit" disabled={!key.trim()}>
        Sign in
      </button>
      {message && <p className="error">{message}</p>}
    </form>
  );
}

function App() {
  const [access] = useAccess();
  if (access.state === 'checking') return <p className="muted pad">Connecting…</p>;
  if (access.state === 'out') return <SignIn message={access.message} />;
  return (
    <>
      <header className="top">
        <strong>Maestro</strong>
        <nav>
          <Link href="/runs">Runs</Link>
          <Link href="/workflows">Workflows</Link>
          <Link href="/queues">Queues</Link>
        </nav>
        <span className="muted">
          {access.anonymous ? (
            'development mode (no key)'
          ) : (
            <button className="link" onClick={() => setApiKey(null)}>
              Sign out
            </button>
          )}
        </span>
      </header>
      <main>
        <Switch>
          <Route path="/runs" component={RunsPage} />
          <Route path="/runs/:id">{(p) => <RunPage id={p.id} />}</Route>
          <Route path="/workflows" component={WorkflowsPage} />
          <Route path="/workflows/:name">{(p) => <WorkflowPage name={decodeURIComponent(p.name)} />}</Route>
          <Route path="/queues" component={QueuesPage} />
          <Route>
            <Redirect to="/runs" />
          </Route>
        </Switch>
      </main>
    </>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <Router base="/ui">
      <App />
    </Router>
  </StrictMode>,
);
