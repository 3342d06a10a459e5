/**
 * Request bodies: the method's parameters as JSON, on GET too (the Python
 * client sends them so). A body typed `application/json` (or `...+json`) is
 * parsed. A body of another type is parsed as well when the request carries
 * an `Authorization` header (`curl -d` sends a form type), and refused with a
 * 415 otherwise: a page of another origin can send `text/plain` with the
 * session cookie and no CORS preflight, never `application/json`. No body (or
 * an empty one) is no parameters, whatever the type.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { HttpError } from "./http-error.js";
import { parseJsonBody as parseJson } from "./params.js";

export function registerJsonBody(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  const text = (body: string | Buffer) => (typeof body === "string" ? body : body.toString("utf8"));
  for (const type of ["application/json", /^application\/[\w.+-]+\+json$/]) {
    app.addContentTypeParser(type, { parseAs: "string" }, (_req, body, done) => {
      try {
        done(null, parseJson(text(body)));
      } catch (err) {
        done(err as Error);
      }
    });
  }
  app.addContentTypeParser("*", { parseAs: "string" }, (req: FastifyRequest, body, done) => {
    const t = text(body);
    const keyed = (req.headers.authorization ?? "").trim() !== "";
    if (t.trim() !== "" && !keyed) {
      const type = req.headers["content-type"] ?? "none";
      done(
        new HttpError(
          415,
          `The request body must be JSON sent with Content-Type: application/json (got ${type})`,
        ),
      );
      return;
    }
    try {
      done(null, parseJson(t));
    } catch (err) {
      done(err as Error);
    }
  });
}
