using System.Buffers;
using System.Numerics;

namespace OspBridge.Quic.Transport;

/// <summary>
/// Power-of-two ring arrays for stream and CRYPTO buffers, from <see cref="ArrayPool{T}.Shared"/>: a closed
/// stream's rings serve the next stream instead of becoming garbage (a q2q request opens a stream per request).
/// Rings are indexed by offset with a mask, so their length must be a power of two; the shared pool's buckets are.
/// Rented arrays hold old bytes: the buffers only ever read ranges they wrote.
/// </summary>
internal static class RingPool
{
    /// <summary>A ring of at least <paramref name="minimumLength"/> bytes (rounded up to a power of two).</summary>
    public static byte[] Rent(int minimumLength)
    {
        int size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(minimumLength, 64));
        var ring = ArrayPool<byte>.Shared.Rent(size);
        if (BitOperations.IsPow2(ring.Length)) return ring;
        ArrayPool<byte>.Shared.Return(ring);
        return GC.AllocateUninitializedArray<byte>(size);
    }

    /// <summary>Gives a ring back (it must not be used afterwards).</summary>
    public static void Return(byte[] ring) => ArrayPool<byte>.Shared.Return(ring);
}
