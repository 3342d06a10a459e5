// The run engine's metadata, carried by every run (`re_metadata` shows it),
// as the Python server's simulated profile sets it.
import { setRunEngineMetadata } from "zqs/worker";

setRunEngineMetadata({ metadata_key: "metadata_value" });
