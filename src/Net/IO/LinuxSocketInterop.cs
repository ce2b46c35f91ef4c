using System.Runtime.InteropServices;

namespace OspBridge.Net.IO;

/// <summary>
/// The Linux (64-bit, glibc/musl) socket calls and structures the batched UDP socket uses. Layouts are the
/// LP64 ones (x86-64 and arm64 agree); <see cref="LayoutOk"/> checks them at run time.
/// </summary>
internal static unsafe partial class LinuxSocketInterop
{
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_TRUNC = 0x20;
    public const int MSG_CTRUNC = 0x08;

    public const int SOL_IP = 0;
    public const int SOL_IPV6 = 41;
    public const int SOL_UDP = 17;
    public const int IP_PKTINFO = 8;
    public const int IPV6_PKTINFO = 50;
    public const int UDP_SEGMENT = 103;
    public const int UDP_GRO = 104;
    public const int IP_MTU_DISCOVER = 10;
    public const int IPV6_MTU_DISCOVER = 23;
    /// <summary>Set DF / never fragment locally, and ignore the kernel's cached path MTU (the sender probes itself).</summary>
    public const int PMTUDISC_PROBE = 3;

    public const int AF_INET = 2;
    public const int AF_INET6 = 10;

    public const int EINTR = 4;
    public const int EIO = 5;
    public const int EAGAIN = 11;
    public const int EINVAL = 22;
    public const int ENOSYS = 38;
    public const int ENOPROTOOPT = 92;
    public const int EMSGSIZE = 90;
    public const int EOPNOTSUPP = 95;

    public const short POLLOUT = 0x004;

    /// <summary>Most segments the kernel accepts in one GSO send (UDP_MAX_SEGMENTS).</summary>
    public const int MaxGsoSegments = 64;

    /// <summary>Most payload bytes of one GSO send (an IP packet's 64 KiB minus headers, with margin).</summary>
    public const int MaxGsoBytes = 65_000;

    /// <summary>struct iovec.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    /// <summary>struct msghdr.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    /// <summary>struct mmsghdr.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MMsgHdr
    {
        public MsgHdr Header;
        public uint Length;
    }

    /// <summary>struct pollfd.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    /// <summary>sizeof(struct cmsghdr): size_t len; int level; int type.</summary>
    public const int CmsgHeaderSize = 16;

    /// <summary>CMSG_ALIGN.</summary>
    public static int CmsgAlign(int n) => (n + 7) & ~7;

    /// <summary>CMSG_SPACE.</summary>
    public static int CmsgSpace(int dataLength) => CmsgHeaderSize + CmsgAlign(dataLength);

    /// <summary>CMSG_LEN.</summary>
    public static int CmsgLen(int dataLength) => CmsgHeaderSize + dataLength;

    /// <summary>True when the structures above have the sizes the kernel expects.</summary>
    public static bool LayoutOk => IntPtr.Size == 8 && sizeof(IoVec) == 16 && sizeof(MsgHdr) == 56 && sizeof(MMsgHdr) == 64 && sizeof(PollFd) == 8;

    [LibraryImport("libc", EntryPoint = "recvmmsg", SetLastError = true)]
    public static partial int RecvMMsg(int fd, MMsgHdr* messages, uint count, int flags, void* timeout);

    [LibraryImport("libc", EntryPoint = "sendmmsg", SetLastError = true)]
    public static partial int SendMMsg(int fd, MMsgHdr* messages, uint count, int flags);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollFd* fds, nuint count, int timeoutMs);
}
