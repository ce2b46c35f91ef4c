namespace OspBridge.Crypto.Tls;

// RFC 8446 §4.4.4
//   struct { opaque verify_data[Hash.length]; } Finished;
//   verify_data = HMAC(finished_key, Transcript-Hash(Handshake Context, Certificate*, CertificateVerify*))
//   finished_key = HKDF-Expand-Label(BaseKey, "finished", "", Hash.length)

/// <summary>Finished message framing.</summary>
internal static class FinishedMessage
{
    public static void Write(TlsWriter w, ReadOnlySpan<byte> verifyData)
    {
        int msg = w.BeginHandshake(TlsHandshakeType.Finished);
        w.WriteBytes(verifyData);
        w.EndVector(msg);
    }
}
