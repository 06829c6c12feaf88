import { useEffect } from "react";
import { boot } from "./actions";
import { Onboarding } from "./components/Onboarding";
import { Failed, Loading, Starting, Unauthorized, Unreachable } from "./components/Screens";
import { Shell } from "./components/Shell";
import { Unlock } from "./components/Unlock";
import { useModel } from "./store";

export function App() {
  useEffect(() => boot(), []);
  const auth = useModel((m) => m.auth);
  const app = useModel((m) => m.app);
  const appError = useModel((m) => m.appError);

  if (auth === "unauthorized") return <Unauthorized />;
  if (!app) return appError ? <Unreachable message={appError} /> : <Loading />;
  switch (app.state) {
    case "setup":
      return <Onboarding />;
    case "locked":
      return <Unlock />;
    case "starting":
      return <Starting />;
    case "failed":
      return <Failed error={app.error} />;
    case "running":
      return <Shell />;
    default:
      return <Failed error={`Unknown state “${String((app as { state: unknown }).state)}”.`} />;
  }
}
