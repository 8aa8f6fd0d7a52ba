// The bearer token: asked for when the server says UNAUTHENTICATED, kept for the tab.
import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { createContext, type ReactNode, useCallback, useContext, useMemo, useState } from "react";

import { isUnauthenticated, storedToken, storeToken } from "./transport";

interface Auth {
  /** Bumped when the token changes: the watch stream starts over with it. */
  epoch: number;
  /** The server asked for a token (none was kept, or it was refused). */
  asking: boolean;
  /** The token in use was refused. */
  refused: boolean;
  hasToken: boolean;
  unauthenticated: () => void;
  submit: (token: string) => void;
  forget: () => void;
}

const AuthContext = createContext<Auth | null>(null);

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error("useAuth outside <Providers>");
  return auth;
}

/** Auth and the query client, whose failed calls bring back the token prompt. */
export function Providers({ children }: { children: ReactNode }) {
  const [epoch, setEpoch] = useState(0);
  const [asking, setAsking] = useState(false);
  const [refused, setRefused] = useState(false);
  const [hasToken, setHasToken] = useState(() => storedToken() !== null);

  const unauthenticated = useCallback(() => {
    setRefused(storedToken() !== null);
    storeToken(null);
    setHasToken(false);
    setAsking(true);
  }, []);

  const [queryClient] = useState(() => {
    const onError = (err: unknown) => isUnauthenticated(err) && unauthenticated();
    return new QueryClient({
      queryCache: new QueryCache({ onError }),
      mutationCache: new MutationCache({ onError }),
      defaultOptions: { queries: { refetchOnWindowFocus: false } },
    });
  });

  const submit = useCallback(
    (token: string) => {
      storeToken(token);
      setHasToken(true);
      setAsking(false);
      setRefused(false);
      setEpoch((e) => e + 1);
      void queryClient.invalidateQueries();
    },
    [queryClient],
  );

  const forget = useCallback(() => {
    storeToken(null);
    setHasToken(false);
    queryClient.clear();
    setEpoch((e) => e + 1);
  }, [queryClient]);

  const auth = useMemo(
    () => ({ epoch, asking, refused, hasToken, unauthenticated, submit, forget }),
    [epoch, asking, refused, hasToken, unauthenticated, submit, forget],
  );
  return (
    <AuthContext.Provider value={auth}>
      <QueryClientProvider client={queryClient}>{children}</QueryClientProvider>
    </AuthContext.Provider>
  );
}
