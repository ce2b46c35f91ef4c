using System.Buffers.Binary;

namespace OspBridge.Quic.Driver;

/// <summary>Allocation-free dictionary key for a connection ID (first 16 bytes + length; CIDs are random).</summary>
internal readonly record struct CidKey(ulong A, ulong B, int Length)
{
    public static CidKey From(ReadOnlySpan<byte> cid)
    {
        Span<byte> b = stackalloc byte[16];
        b.Clear();
        cid[..Math.Min(16, cid.Length)].CopyTo(b);
        return new CidKey(BinaryPrimitives.ReadUInt64LittleEndian(b), BinaryPrimitives.ReadUInt64LittleEndian(b[8..]), cid.Length);
    }
}
