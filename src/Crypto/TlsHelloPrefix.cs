namespace OspBridge.Crypto;

/// <summary>
/// The fields every hello starts with, in TLS 1.3 and DTLS 1.2 alike (RFC 8446 §4.1.2–4.1.3; RFC 6347 §4.2.1 over
/// RFC 5246 §7.4.1.2): <c>ProtocolVersion (legacy_)version | Random random (32) | opaque (legacy_)session_id(_echo)&lt;0..32&gt;</c>.
/// </summary>
internal static class TlsHelloPrefix
{
    /// <summary>Octets of a hello's random.</summary>
    public const int RandomLength = 32;

    /// <summary>Writes version, random and session id.</summary>
    public static void Write(TlsWriter w, ushort version, byte[] random, byte[] sessionId)
    {
        w.WriteU16(version);
        w.WriteBytes(random);
        w.WriteVector8(sessionId);
    }

    /// <summary>Reads version, random and session id (at most 32 octets); returns the version.</summary>
    public static ushort Read(ref TlsReader r, out byte[] random, out byte[] sessionId)
    {
        ushort version = r.ReadU16();
        random = r.ReadBytes(RandomLength).ToArray();
        sessionId = r.ReadVector8(0, 32).ToArray();
        return version;
    }
}
