using System.Runtime.InteropServices;

namespace OspBridge.Testing.Netns;

/// <summary>The few libc calls the harness needs (Linux only).</summary>
internal static partial class LibC
{
    internal const int CLONE_NEWNET = 0x40000000;
    internal const int SIGKILL = 9;
    internal const int SIGTERM = 15;
    internal const int SIGINT = 2;
    internal const int AF_PACKET = 17;
    internal const int SOCK_RAW = 3;
    internal const int SOL_SOCKET = 1;
    internal const int SO_RCVTIMEO = 20;
    internal const ushort ETH_P_ALL = 0x0003;
    internal const byte PACKET_OUTGOING = 4;

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int setns(int fd, int nstype);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int kill(int pid, int sig);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int geteuid();

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    internal static unsafe partial int bind(int fd, void* addr, int addrlen);

    [LibraryImport("libc", SetLastError = true)]
    internal static unsafe partial int setsockopt(int fd, int level, int name, void* value, int len);

    [LibraryImport("libc", SetLastError = true)]
    internal static unsafe partial nint recvfrom(int fd, byte* buf, nuint len, int flags, void* addr, int* addrlen);

    /// <summary>struct sockaddr_ll (20 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct SockaddrLl
    {
        public ushort Family;
        public ushort Protocol;
        public int IfIndex;
        public ushort HaType;
        public byte PktType;
        public byte HaLen;
        public ulong Addr;
    }

    /// <summary>struct timeval.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct TimeVal
    {
        public long Sec;
        public long USec;
    }

    internal static ushort Htons(ushort v) => (ushort)((v << 8) | (v >> 8));
}
