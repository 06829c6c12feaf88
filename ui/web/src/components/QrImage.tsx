import { useEffect, useState } from "react";
import { qrFromBase64Bytes, qrFromText } from "../lib/qr";

/** A QR code drawn locally: of a text, or of base64 bytes. */
export function QrImage({
  text,
  base64,
  alt,
  testId,
  size = 200,
}: {
  text?: string;
  base64?: string;
  alt: string;
  testId?: string;
  size?: number;
}) {
  const [url, setUrl] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let live = true;
    setUrl(null);
    setFailed(false);
    const p = base64 !== undefined ? qrFromBase64Bytes(base64) : qrFromText(text ?? "");
    p.then(
      (u) => live && setUrl(u),
      () => live && setFailed(true),
    );
    return () => {
      live = false;
    };
  }, [text, base64]);
  if (failed) {
    return (
      <div className="qr qr-failed" data-testid={testId} style={{ width: size, height: size }}>
        Couldn't draw the QR code.
      </div>
    );
  }
  if (!url) return <div className="qr qr-loading" data-testid={testId} style={{ width: size, height: size }} />;
  return <img className="qr" src={url} alt={alt} data-testid={testId} width={size} height={size} />;
}
