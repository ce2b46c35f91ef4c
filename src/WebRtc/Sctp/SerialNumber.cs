namespace OspBridge.WebRtc.Sctp;

/// <summary>Serial number arithmetic (RFC 1982) for 32-bit TSNs and 16-bit SSNs.</summary>
internal static class SerialNumber
{
    public static bool Lt(uint a, uint b) => (int)(a - b) < 0;
    public static bool Le(uint a, uint b) => (int)(a - b) <= 0;
    public static bool Gt(uint a, uint b) => (int)(a - b) > 0;
    public static bool Ge(uint a, uint b) => (int)(a - b) >= 0;
    public static bool Lt16(ushort a, ushort b) => (short)(a - b) < 0;
    public static bool Ge16(ushort a, ushort b) => (short)(a - b) >= 0;
}
